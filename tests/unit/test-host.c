/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "util/host.h"
#include "util/uuid.h"

static char dir[] = "/tmp/qm-test-host.XXXXXX";

static void make_dir(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(host, .init = make_dir, .fini = remove_dir);

/* Writes @content into DIR/@name and returns the path (static storage per name). */
static const char *file(const char *name, const char *content)
{
	static char paths[4][128];
	static int next;
	char *path = paths[next++ % 4];
	FILE *f;

	snprintf(path, 128, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert(fputs(content, f) >= 0 && fclose(f) == 0);
	return path;
}

Test(host, identity_is_a_host_name_and_a_canonical_lower_case_uuid)
{
	char hostname[256], host_uuid[37], lower[37];
	struct qm_error err = { 0 };

	cr_assert_eq(qm_host_identity(NULL, hostname, host_uuid, &err), 0, "%s", err.text);
	cr_expect(qm_hostname_is_valid(hostname), "'%s'", hostname);
	cr_expect(qm_uuid_is_valid(host_uuid), "'%s'", host_uuid);
	cr_assert(qm_uuid_normalise(host_uuid, lower));
	cr_expect_str_eq(host_uuid, lower);
}

Test(host, machine_id_is_written_8_4_4_4_12)
{
	const struct qm_host_sources src = {
		.machine_id = file("machine-id", "3D1219C7C4C5404AAA1F6D2A48ADFDA4\n"),
		.product_uuid =
		    file("product_uuid", "11111111-2222-3333-4444-555555555555\n"),
	};
	struct qm_error err = { 0 };
	char uuid[37];

	cr_assert_eq(qm_host_uuid(&src, uuid, &err), 0, "%s", err.text);
	cr_expect_str_eq(uuid, "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4");
}

Test(host, falls_back_to_the_product_uuid)
{
	const struct qm_host_sources uninitialised = {
		.machine_id = file("machine-id", "uninitialized\n"),
		.product_uuid =
		    file("product_uuid", "4C4C4544-0042-3510-8052-B4C04F4E4E32\n"),
	};
	const struct qm_host_sources missing = {
		.machine_id = "/nonexistent/machine-id",
		.product_uuid = uninitialised.product_uuid,
	};
	struct qm_error err = { 0 };
	char uuid[37];

	cr_assert_eq(qm_host_uuid(&uninitialised, uuid, &err), 0, "%s", err.text);
	cr_expect_str_eq(uuid, "4c4c4544-0042-3510-8052-b4c04f4e4e32");
	cr_assert_eq(qm_host_uuid(&missing, uuid, &err), 0, "%s", err.text);
	cr_expect_str_eq(uuid, "4c4c4544-0042-3510-8052-b4c04f4e4e32");
}

Test(host, fails_clearly_when_neither_source_gives_a_uuid)
{
	const struct qm_host_sources src = {
		.machine_id = "/nonexistent/machine-id",
		.product_uuid = file("product_uuid", "Not Settable\n"),
	};
	struct qm_error err = { 0 };
	char uuid[37];

	cr_expect_lt(qm_host_uuid(&src, uuid, &err), 0);
	cr_expect_str_eq(err.error_class, "HostIdentity");
	cr_expect(strstr(err.text, "/nonexistent/machine-id: No such file or directory"),
		  "%s", err.text);
	cr_expect(strstr(err.text, "product_uuid: not a uuid"), "%s", err.text);
}

Test(host, a_machine_id_of_the_wrong_length_is_not_used)
{
	const struct qm_host_sources src = {
		.machine_id = file("machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4ff\n"),
		.product_uuid = "/nonexistent/product_uuid",
	};
	struct qm_error err = { 0 };
	char uuid[37];

	cr_expect_lt(qm_host_uuid(&src, uuid, &err), 0);
	cr_expect(strstr(err.text, "machine-id: not a uuid"), "%s", err.text);
}

Test(host, host_names_are_letters_digits_dots_dashes_underscores)
{
	char long_name[300];

	cr_expect(qm_hostname_is_valid("dst-01.lab_a.example.org"));
	cr_expect_not(qm_hostname_is_valid(""));
	cr_expect_not(qm_hostname_is_valid("two words"));
	cr_expect_not(qm_hostname_is_valid("semi;colon"));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	cr_expect_not(qm_hostname_is_valid(long_name));
	long_name[255] = '\0';
	cr_expect(qm_hostname_is_valid(long_name));
}

Test(host, addresses_hold_letters_digits_and_dot_colon_dash_underscore)
{
	cr_expect(qm_addr_text_ok("dst-01.lab_a.example.org"));
	cr_expect(qm_addr_text_ok("192.0.2.7"));
	cr_expect(qm_addr_text_ok("fe80::1"));
	cr_expect(qm_addr_text_ok("")); /* the callers check emptiness */
	cr_expect_not(qm_addr_text_ok("[::1]"));
	cr_expect_not(qm_addr_text_ok("fe80::1%eth0"));
	cr_expect_not(qm_addr_text_ok("a b"));
	cr_expect_not(qm_addr_text_ok("a,b"));
	cr_expect_not(qm_addr_text_ok("a/b"));
	cr_expect_not(qm_addr_text_ok("h\xc3\xa9te"));
	cr_expect_not(qm_addr_text_ok("x\n"));
}

Test(host, uuids_are_checked_and_normalised)
{
	char out[37];

	cr_expect(qm_uuid_is_valid("C7A5FDBD-edaf-9455-926a-d65c16db1809"));
	cr_expect_not(qm_uuid_is_valid("c7a5fdbd-edaf-9455-926a-d65c16db180"));
	cr_expect_not(qm_uuid_is_valid("c7a5fdbd-edaf-9455-926a-d65c16db18090"));
	cr_expect_not(qm_uuid_is_valid("c7a5fdbdaedaf-9455-926a-d65c16db1809"));
	cr_expect_not(qm_uuid_is_valid("g7a5fdbd-edaf-9455-926a-d65c16db1809"));
	cr_expect_not(qm_uuid_normalise("", out));
	cr_assert(qm_uuid_normalise("C7A5FDBD-EDAF-9455-926A-D65C16DB1809", out));
	cr_expect_str_eq(out, "c7a5fdbd-edaf-9455-926a-d65c16db1809");
}
