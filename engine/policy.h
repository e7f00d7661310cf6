/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Convergence policies: what a migration should do next, decided from the
 * settings, the latest progress sample and the time.
 *
 * Everything here is pure: no I/O, no QMP, no clock reads, no globals.
 * What must persist between samples lives in struct qm_policy_state, which
 * the caller owns and passes to every call.  The intended use, by the
 * progress monitor during perform:
 *
 *	struct qm_policy_state st;
 *	struct qm_policy_action act[QM_POLICY_MAX_ACTIONS];
 *
 *	if (qm_policy_settings_validate(&settings, &err) < 0) ...refuse the job...
 *	qm_policy_state_init(&st, &settings, ev_now(loop)); // as migrate goes out
 *	...on every query-migrate sample:
 *	n = qm_policy_evaluate(&settings, &st, &progress, ev_now(loop), act);
 *	for (i = 0; i < n; i++)
 *		log qm_policy_action_to_json(&act[i]), then execute act[i];
 *	...on a "force-complete" command:
 *	qm_policy_force_complete(&st);  // acted upon at the next sample
 *
 * Executing the actions with QMP is the caller's job:
 *	QM_POLICY_SET_DOWNTIME   migrate-set-parameters {"downtime-limit": value}
 *	QM_POLICY_CANCEL         cancel the migration and roll back
 *	QM_POLICY_PAUSE_SOURCE   stop (the source's CPUs)
 *	QM_POLICY_START_POSTCOPY migrate-start-postcopy
 *	QM_POLICY_ADVISE         nothing: tell the user the reason
 *
 * Units: downtimes in milliseconds, times in seconds (double), sizes in
 * bytes; a GiB is 2^30 bytes.
 */
#ifndef QM_ENGINE_POLICY_H
#define QM_ENGINE_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qmigrate.h"

/* Nova's defaults (nova.conf [libvirt] live_migration_downtime*). */
#define QM_POLICY_DEFAULT_MAX_DOWNTIME_MS 500
#define QM_POLICY_DEFAULT_STEP_DELAY 75.0 /* seconds per GiB of guest RAM */
/*
 * The completion timeout nobody set: nova's live_migration_completion_timeout,
 * 800 s per GiB.  Nova counts at least 2 GiB (1600 s); our floor is lower
 * because a small guest's time goes to fixed costs (setup, device state,
 * switch-over) that take seconds, and a test harness should not wait half an
 * hour for a small guest that cannot converge.  Until QEMU sized the RAM, the
 * floor is the limit.
 */
#define QM_POLICY_DEFAULT_TIMEOUT_PER_GIB 800.0
#define QM_POLICY_DEFAULT_TIMEOUT_MIN 120.0
/*
 * Advice comes once QEMU's expected downtime stayed above the limit for this
 * many passes (dirty-sync-count) in a row: one pass above says little (the
 * first passes' rate estimate is rough, a burst of writes passes), five say
 * the guest outpaces the stream for good, seconds into most migrations.
 */
#define QM_POLICY_ADVISE_PASSES 5
/* What QEMU's downtime-limit is when nobody set it. */
#define QM_POLICY_QEMU_DOWNTIME_MS 300
/* QEMU refuses a downtime-limit above 2000 s. */
#define QM_POLICY_MAX_DOWNTIME_LIMIT_MS 2000000
#define QM_POLICY_MAX_STEPS 1000

/*
 * The settings, one field per command-line option.  Zero turns a policy off
 * (or picks the default where one is named).  Fields are signed so that a
 * negative value parsed from the command line reaches the validator, which
 * refuses it with a clear message; the one exception is a negative timeout,
 * which means none.
 */
/* struct qm_policy_settings is public: include/qmigrate.h. */

/*
 * What persists between samples.  Owned by the caller; set up by
 * qm_policy_state_init and updated by qm_policy_evaluate, except the facts
 * about the migration that the caller knows and the settings do not hold,
 * which the caller fills in after qm_policy_state_init and updates when it
 * changes them.
 */
struct qm_policy_state {
	double start;	       /* the caller's clock when the migration started */
	long long downtime_ms; /* the limit in force as far as the policies know; a caller
				* that changes it on a user's command updates it here */
	/* The caller's: the stream's cap in bytes/s (0: none), and whether QEMU may
	 * throttle the guest's CPUs (auto-converge). */
	unsigned long long bandwidth;
	bool auto_converge;
	unsigned long long ram_bytes; /* guest RAM; 0 until known */
	int ladder_step;	      /* the last step reached, -1 before step 0 */

	bool have_prev; /* doubling: the previous counted sample's remaining bytes */
	unsigned long long prev_remaining;
	int flat_samples; /* consecutive counted samples where remaining did not fall */

	bool have_low; /* stall: the lowest remaining bytes seen, and when */
	unsigned long long low_remaining;
	double low_at;

	bool have_above; /* advice: expected downtime above the limit since this pass */
	unsigned long long above_from;
	bool advised;

	bool force_complete;   /* requested by a command, not yet acted upon */
	bool paused;	       /* PAUSE_SOURCE was returned */
	bool postcopy_started; /* START_POSTCOPY was returned, or QEMU is in post-copy */
	bool cancelled;	       /* CANCEL was returned: nothing acts any more */
};

enum qm_policy_action_type {
	QM_POLICY_SET_DOWNTIME,
	QM_POLICY_CANCEL,
	QM_POLICY_PAUSE_SOURCE,
	QM_POLICY_START_POSTCOPY,
	QM_POLICY_ADVISE,
};

/* Which policy decided. */
enum qm_policy {
	QM_POLICY_LADDER,
	QM_POLICY_DOUBLE,
	QM_POLICY_TIMEOUT,
	QM_POLICY_STALL,
	QM_POLICY_PAUSE_AFTER,
	QM_POLICY_POSTCOPY,
	QM_POLICY_FORCE_COMPLETE,
	QM_POLICY_ADVICE,
};

struct qm_policy_action {
	enum qm_policy_action_type type;
	enum qm_policy policy;
	long long value; /* SET_DOWNTIME: the new limit in ms; otherwise 0 */
	/* Why, for people and logs.  A CANCEL's reason starts with "timeout" or
	 * "stalled", then ": " and the figures. */
	char reason[400];
};

/* The most actions one sample can produce (a downtime, a forcing, advice). */
#define QM_POLICY_MAX_ACTIONS 4

/*
 * Checks @s.  Returns 0, or -EINVAL with @err filled (class "Usage"; the text
 * names the command-line option).  Refuses non-finite values, negative ones
 * (but a negative timeout, which is none), a downtime over QEMU's limit, the
 * ladder together with doubling, and options that need another one
 * (--postcopy-after-passes without --postcopy...).
 */
int qm_policy_settings_validate(const struct qm_policy_settings *s,
				struct qm_error *err) QM_MUST_CHECK;

/* Starts the state for a migration that started at @start (the caller's clock). */
void qm_policy_state_init(struct qm_policy_state *st, const struct qm_policy_settings *s,
			  double start);

/* Asks for the migration to finish now: post-copy if enabled, else pause the source. */
void qm_policy_force_complete(struct qm_policy_state *st);

/*
 * Decides what to do after sample @p, taken at @now (same clock as the start
 * given to qm_policy_state_init; seconds since then are the migration's age;
 * p->elapsed, which counts from the job's start, is not used).  Fills @out
 * with up to QM_POLICY_MAX_ACTIONS actions, in the order to execute them, and
 * returns how many.
 *
 * Rules: a CANCEL comes alone, and after it nothing acts.  Only the "setup"
 * and "active" statuses produce actions; a "postcopy-*" status marks
 * post-copy as started, so no START_POSTCOPY or PAUSE_SOURCE follows.
 * Remaining-bytes tracking (doubling, stall) counts only "active" samples
 * with total_bytes > 0.  PAUSE_SOURCE and START_POSTCOPY each come at most
 * once, and either one ends the need for the other.
 *
 * ADVISE comes at most once, last, when QEMU's expected downtime stayed above
 * the limit for QM_POLICY_ADVISE_PASSES passes, counted samples only, none
 * at or below it, with nothing forcing convergence.  With a ladder or
 * doubling, the limit is the most they will set.  Its reason names the
 * figures and the options that would help and are not in use already.
 */
size_t qm_policy_evaluate(const struct qm_policy_settings *s, struct qm_policy_state *st,
			  const struct qm_progress *p, double now,
			  struct qm_policy_action out[QM_POLICY_MAX_ACTIONS]);

/* "ladder", "double", "timeout", "stall", "pause-after", "postcopy", "force-complete",
 * "advise". */
const char *qm_policy_name(enum qm_policy policy);
/* "set-downtime", "cancel", "pause-source", "start-postcopy", "advise". */
const char *qm_policy_action_name(enum qm_policy_action_type type);

/*
 * @a as a log line's object: {"event": "policy", "policy": ..., "action": ...,
 * "value": ... (SET_DOWNTIME only, ms), "reason": ...}.  Returns a new
 * reference, or NULL when out of memory.
 */
json_t *qm_policy_action_to_json(const struct qm_policy_action *a) QM_MUST_CHECK;

#endif
