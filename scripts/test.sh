#!/usr/bin/env bash
# Builds CatTube and runs every test: the Release-ish build (-Werror) with the
# whole CTest suite (C unit tests + pytest integration tests against the real
# binary), the same suite under ASan+UBSan, then each libFuzzer target for a
# short while when clang is available, then cppcheck and clang-tidy over src/.
# Ends with one line "N passed, M failed"
# and exits nonzero on any failure.
#
# Knobs (environment):
#   CATTUBE_BUILD_DIR / CATTUBE_ASAN_DIR / CATTUBE_FUZZ_DIR   build dirs
#                         (default build, build-asan, build-fuzz)
#   CATTUBE_ASAN=0        skip the ASan build
#   CATTUBE_ASAN_INTEGRATION=0   under ASan run only the C unit tests
#   CATTUBE_CPPCHECK=0    skip cppcheck
#   CATTUBE_CLANG_TIDY=0  skip clang-tidy
#   CATTUBE_FUZZ=0        skip fuzzing;  CATTUBE_FUZZ_SECONDS (default 20 per target)
#   CATTUBE_JOBS          parallel compile jobs (default: nproc)
#   CTEST_JOBS            parallel tests (default 2)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$(pwd)

BUILD_DIR=${CATTUBE_BUILD_DIR:-build}
ASAN_DIR=${CATTUBE_ASAN_DIR:-build-asan}
FUZZ_DIR=${CATTUBE_FUZZ_DIR:-build-fuzz}
JOBS=${CATTUBE_JOBS:-$(nproc 2>/dev/null || echo 2)}
CTEST_JOBS=${CTEST_JOBS:-2}
FUZZ_SECONDS=${CATTUBE_FUZZ_SECONDS:-20}

passed=0
failed=0
summary=()
t_start=$SECONDS

phase() { printf '\n===== %s (t=%ds) =====\n' "$*" "$((SECONDS - t_start))"; }
note() { summary+=("$*"); }

# ctest_run DIR LABEL [extra ctest args...]: runs the suite and adds its
# counts to passed/failed (a suite that could not run counts as one failure).
ctest_run() {
  local dir=$1 label=$2
  shift 2
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j"$CTEST_JOBS" --timeout 900 "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line total nfail
  line=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -n "$line" ]; then
    nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
    note "$label: $((total - nfail)) passed, $nfail failed"
    if [ "$nfail" -gt 0 ]; then
      note "  failed: $(grep -E '^[[:space:]]*[0-9]+ - ' "$log" | sed -E 's/^[[:space:]]*[0-9]+ - //' | tr '\n' ' ')"
    fi
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    note "$label: ctest could not run (exit $rc)"
  else
    note "$label: no tests found"
  fi
  rm -f "$log"
}

# build DIR LABEL [cmake args...]: configure + build; a failure counts once.
build() {
  local dir=$1 label=$2
  shift 2
  if cmake -S "$ROOT" -B "$dir" "$@" && cmake --build "$dir" -j"$JOBS"; then
    return 0
  fi
  failed=$((failed + 1))
  note "$label: BUILD FAILED"
  return 1
}

phase "dependencies"
if ! bash scripts/deps.sh; then
  echo "scripts/deps.sh failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# --- 1. the normal build, warnings are errors, the whole suite ---
phase "build $BUILD_DIR (RelWithDebInfo, -Werror)"
if build "$BUILD_DIR" "build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCATTUBE_WERROR=ON; then
  phase "ctest $BUILD_DIR"
  ctest_run "$BUILD_DIR" "ctest $BUILD_DIR" --no-tests=error
fi

# --- 2. ASan + UBSan ---
if [ "${CATTUBE_ASAN:-1}" != 0 ]; then
  phase "build $ASAN_DIR (Asan)"
  if build "$ASAN_DIR" "build-asan" -DCMAKE_BUILD_TYPE=Asan -DCATTUBE_WERROR=ON; then
    phase "ctest $ASAN_DIR"
    if [ "${CATTUBE_ASAN_INTEGRATION:-1}" = 0 ]; then
      ctest_run "$ASAN_DIR" "ctest $ASAN_DIR (unit only)" -E '^integration\.'
    else
      ctest_run "$ASAN_DIR" "ctest $ASAN_DIR"
    fi
  fi
fi

# --- 3. libFuzzer targets, a short run each ---
if [ "${CATTUBE_FUZZ:-1}" != 0 ]; then
  phase "fuzz"
  if ! command -v clang >/dev/null 2>&1; then
    note "fuzz: skipped (no clang)"
  elif [ ! -f fuzz/CMakeLists.txt ]; then
    note "fuzz: skipped (no fuzz/CMakeLists.txt yet)"
  elif ! CC=clang cmake -S "$ROOT" -B "$FUZZ_DIR" -DCATTUBE_FUZZ=ON -DCATTUBE_WERROR=OFF \
           -DCMAKE_BUILD_TYPE=Asan; then
    failed=$((failed + 1))
    note "fuzz: CONFIGURE FAILED"
  else
    mapfile -t targets < <(cmake --build "$FUZZ_DIR" --target help 2>/dev/null |
                           sed -nE 's/^\.\.\. (fuzz_[A-Za-z0-9_]+).*/\1/p' | sort -u)
    if [ "${#targets[@]}" -eq 0 ]; then
      note "fuzz: no fuzz_* targets"
    elif ! cmake --build "$FUZZ_DIR" -j"$JOBS" --target "${targets[@]}"; then
      failed=$((failed + 1))
      note "fuzz: BUILD FAILED"
    else
      fp=0 ff=0
      for t in "${targets[@]}"; do
        bin=$(find "$FUZZ_DIR" -type f -name "$t" -perm -u+x | head -1)
        if [ -z "$bin" ]; then
          ff=$((ff + 1)); note "  fuzz $t: binary not found"; continue
        fi
        short=${t#fuzz_}
        work="$FUZZ_DIR/corpus/$short" arts="$FUZZ_DIR/artifacts"
        mkdir -p "$work" "$arts"
        args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$arts/$t-")
        for d in "fuzz/$t.dict" "fuzz/$short.dict" "fuzz/dict/$short.dict"; do
          if [ -f "$d" ]; then args+=(-dict="$d"); break; fi
        done
        # New inputs go to the build dir; the committed seeds are read only.
        seeds=()
        [ -d "fuzz/corpus/$short" ] && seeds+=("fuzz/corpus/$short")
        echo "--- $t (${FUZZ_SECONDS}s)"
        flog="$FUZZ_DIR/$t.log"
        if timeout $((FUZZ_SECONDS + 120)) "$bin" "${args[@]}" "$work" "${seeds[@]}" \
             >"$flog" 2>&1 </dev/null; then
          fp=$((fp + 1))
          grep -E '^stat::number_of_executed_runs|^Done [0-9]+ runs' "$flog" | tail -1
        else
          ff=$((ff + 1))
          tail -60 "$flog"
          note "  fuzz $t: FAILED (log $flog, artifacts $arts/$t-*)"
        fi
      done
      passed=$((passed + fp))
      failed=$((failed + ff))
      note "fuzz (${#targets[@]} targets, ${FUZZ_SECONDS}s each): $fp passed, $ff failed"
    fi
  fi
fi

# --- 4. static analysis: cppcheck must be clean ---
if [ "${CATTUBE_CPPCHECK:-1}" != 0 ] && command -v cppcheck >/dev/null 2>&1; then
  phase "cppcheck"
  if cppcheck --std=c11 --enable=warning,portability --inline-suppr --quiet --error-exitcode=1 \
       -D_GNU_SOURCE -Isrc --library=posix --suppress=missingIncludeSystem \
       --suppress=unknownMacro --suppress=readdirCalled -j"$JOBS" src/; then
    passed=$((passed + 1)); note "cppcheck: clean"
  else
    failed=$((failed + 1)); note "cppcheck: FINDINGS (see above)"
  fi
fi

# --- 5. static analysis: clang-tidy (checks in .clang-tidy) must be clean ---
# Over src/ only, like cppcheck, with the compile flags of the normal build
# (its compile_commands.json); about 4 CPU-minutes, so ~2 min on 2 cores.
if [ "${CATTUBE_CLANG_TIDY:-1}" != 0 ]; then
  phase "clang-tidy"
  tidy_log="$BUILD_DIR/clang-tidy.log" tidy_t0=$SECONDS
  if ! command -v run-clang-tidy >/dev/null 2>&1; then
    failed=$((failed + 1)); note "clang-tidy: run-clang-tidy not installed"
  elif [ ! -f "$BUILD_DIR/compile_commands.json" ]; then
    failed=$((failed + 1)); note "clang-tidy: no $BUILD_DIR/compile_commands.json"
  elif run-clang-tidy -p "$BUILD_DIR" -j"$JOBS" -quiet "$ROOT/src/" >"$tidy_log" 2>&1; then
    passed=$((passed + 1)); note "clang-tidy: clean ($((SECONDS - tidy_t0)) s)"
  else
    grep -vE '^clang-tidy(-[0-9]+)? |^[0-9]+ warnings? generated' "$tidy_log"
    failed=$((failed + 1)); note "clang-tidy: FINDINGS (see above; full log $tidy_log)"
  fi
fi

phase "summary (total $((SECONDS - t_start)) s)"
for s in "${summary[@]}"; do echo "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
