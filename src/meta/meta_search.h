/* meta_search.h: job queries added for the MediaConvert API after meta.h's
 * job section (kept apart so the PostgreSQL port of meta.h and this file
 * merge cleanly; fold into meta.h's ops table with the port).
 * Ownership as in meta.h. */
#ifndef CT_META_SEARCH_H
#define CT_META_SEARCH_H

#include "meta/meta.h"

/* CancelJob with a point of no return. Like ct_meta_job_cancel (a SUBMITTED
 * job becomes CANCELED at once, a PROGRESSING one gets cancel_requested),
 * but a PROGRESSING job whose worker has reached phase UPLOADING is past
 * stopping: CT_ERR_CONFLICT, as for a finished job. The worker moves to
 * UPLOADING with a heartbeat, which returns cancel_requested in the same
 * statement, so every cancel either stops the job before any output is
 * committed or is refused: a 202 never ends COMPLETE. The refusal is sticky:
 * once any attempt reached UPLOADING (and may have committed some outputs
 * before its worker died) the retry cannot be canceled either, so a
 * CANCELED job never leaves outputs behind.
 * CT_ERR_NOT_FOUND when there is no such job. */
ct_err ct_meta_job_cancel_before_upload(ct_meta *m, const char *id);

#endif
