/* A program a user writes against the installed library: one QMP command. */
#include <ev.h>
#include <jansson.h>
#include <qmigrate.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	struct qm_error err = { 0 };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_qmp *qmp = ctx && loop ? qm_qmp_new(ctx, loop, NULL) : NULL;
	json_t *status = NULL;

	if (argc == 2 && qmp && qm_qmp_connect(qmp, argv[1], &err) == 0)
		status = qm_qmp_command_sync(qmp, "query-status", NULL, -1, &err);
	if (status)
		printf("status=%s\n", json_string_value(json_object_get(status, "status")));
	else
		fprintf(stderr, "consumer: %s\n", err.text[0] ? err.text : "usage: consumer QMP");
	json_decref(status);
	qm_qmp_unref(qmp);
	qm_ctx_unref(ctx);
	if (loop)
		ev_loop_destroy(loop);
	return status ? 0 : 1;
}
