/* printf_hooks: keep glibc's printf on its fast path.
 *
 * Why: libavfilter links pocketsphinx -> lapack -> libgfortran ->
 * libquadmath, whose constructor registers printf hooks for __float128
 * ('Q' modifier and %f/%e/%g/%a handlers). Once any hook is registered,
 * glibc runs every printf in the process through its slow positional
 * path: a 10-argument snprintf measured 479 ns with the hooks against
 * 288 ns without (this machine, glibc 2.36). Nothing in CatTube prints
 * __float128, so the executable defines the three registration functions
 * itself (exported with --export-dynamic-symbol, see src/CMakeLists.txt)
 * and they refuse: libquadmath's constructor gives up at its first call.
 * quadmath_snprintf, the library's own formatter, is unaffected. */
#include <printf.h>
#include <wchar.h>

int register_printf_type(printf_va_arg_function *fct)
{
    (void)fct;
    return -1;
}

int register_printf_modifier(const wchar_t *str)
{
    (void)str;
    return -1;
}

int register_printf_specifier(int spec, printf_function *render, printf_arginfo_size_function *arginfo)
{
    (void)spec;
    (void)render;
    (void)arginfo;
    return -1;
}
