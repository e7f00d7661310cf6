/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cookie's nbd section (docs/storage.md): written, read back, and hostile input
 * refused. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "xml/cookie.h"

#define VM_UUID "c7a5fdbd-edaf-9455-926a-d65c16db1809"
#define HOST_UUID "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"

static void base(struct qm_cookie *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->name, "vm1");
	strcpy(c->uuid, VM_UUID);
	strcpy(c->hostname, "dst.example.org");
	strcpy(c->host_uuid, HOST_UUID);
	c->features = c->mandatory = QM_COOKIE_NBD;
	c->nbd.port = -1;
}

static void disk(struct qm_cookie *c, const char *target, const char *export_name,
		 uint64_t capacity)
{
	struct qm_cookie_disk *d = &c->nbd.disks[c->nbd.n_disks++];

	strcpy(d->target, target);
	strcpy(d->export_name, export_name);
	d->capacity = capacity;
}

/* A cookie with the given nbd section's XML, and that feature mandatory. */
static int parse_nbd(const char *section, struct qm_cookie *c, struct qm_error *err)
{
	char xml[2048];

	snprintf(xml, sizeof(xml),
		 "<qemu-migration><name>vm1</name><uuid>" VM_UUID "</uuid>"
		 "<hostname>h</hostname><hostuuid>" HOST_UUID "</hostuuid>"
		 "<feature name='nbd' mandatory='yes'/>%s</qemu-migration>",
		 section);
	qm_error_clear(err);
	return qm_cookie_parse(xml, strlen(xml), NULL, c, err);
}

Test(cookie_nbd, prepare_section_reads_back_the_same)
{
	struct qm_cookie c, back;
	struct qm_error err = { 0 };
	char *xml = NULL;

	base(&c);
	strcpy(c.nbd.host, "192.0.2.10");
	c.nbd.port = 49153;
	disk(&c, "vda", "vda", 67108864);
	disk(&c, "sdb", "sdb", 16777216);
	cr_assert_eq(qm_cookie_format(&c, &xml, &err), 0, "%s", err.text);
	cr_assert(strstr(xml, "<feature name=\"nbd\" mandatory=\"yes\"/>"), "%s", xml);
	cr_assert(strstr(xml, "<nbd host=\"192.0.2.10\" port=\"49153\">"), "%s", xml);
	cr_assert(strstr(xml,
			 "<disk target=\"vda\" export=\"vda\" capacity=\"67108864\"/>"),
		  "%s", xml);
	cr_assert_eq(qm_cookie_parse(xml, strlen(xml), NULL, &back, &err), 0, "%s",
		     err.text);
	cr_assert_eq(back.features, QM_COOKIE_NBD);
	cr_assert_eq(back.mandatory, QM_COOKIE_NBD);
	cr_assert_str_eq(back.nbd.host, "192.0.2.10");
	cr_assert_eq(back.nbd.port, 49153);
	cr_assert_eq(back.nbd.n_disks, 2);
	cr_assert_str_eq(back.nbd.disks[1].target, "sdb");
	cr_assert_str_eq(back.nbd.disks[1].export_name, "sdb");
	cr_assert_eq(back.nbd.disks[1].capacity, 16777216);
	free(xml);
}

Test(cookie_nbd, unix_socket_server_reads_back_the_same)
{
	struct qm_cookie c, back;
	struct qm_error err = { 0 };
	char *xml = NULL;

	base(&c);
	strcpy(c.nbd.socket, "/run/user/0/qmigrate-x/nbd.sock");
	disk(&c, "vda", "vda", 4096);
	cr_assert_eq(qm_cookie_format(&c, &xml, &err), 0, "%s", err.text);
	cr_assert(strstr(xml, "<nbd socket=\"/run/user/0/qmigrate-x/nbd.sock\">"), "%s", xml);
	cr_assert_eq(qm_cookie_parse(xml, strlen(xml), NULL, &back, &err), 0, "%s",
		     err.text);
	cr_assert_str_eq(back.nbd.socket, "/run/user/0/qmigrate-x/nbd.sock");
	cr_assert_str_eq(back.nbd.host, "");
	cr_assert_eq(back.nbd.port, -1);
	cr_assert_str_eq(back.nbd.disks[0].export_name, "vda");
	free(xml);
	/* A socket and a host together: which one would the source use? */
	strcpy(c.nbd.host, "192.0.2.1");
	c.nbd.port = 10809;
	qm_error_clear(&err);
	cr_assert_lt(qm_cookie_format(&c, &xml, &err), 0);
	cr_assert(strstr(err.text, "both"), "%s", err.text);
}

Test(cookie_nbd, begin_section_has_no_server)
{
	struct qm_cookie c, back;
	struct qm_error err = { 0 };
	char *xml = NULL;

	base(&c);
	disk(&c, "vda", "", 1);
	cr_assert_eq(qm_cookie_format(&c, &xml, &err), 0, "%s", err.text);
	cr_assert(strstr(xml, "<nbd>"), "%s", xml);
	cr_assert_eq(qm_cookie_parse(xml, strlen(xml), NULL, &back, &err), 0, "%s",
		     err.text);
	cr_assert_eq(back.nbd.port, -1);
	cr_assert_str_eq(back.nbd.host, "");
	cr_assert_eq(back.nbd.disks[0].capacity, 1);
	free(xml);
}

Test(cookie_nbd, writer_refuses_what_a_reader_would)
{
	struct qm_cookie c;
	struct qm_error err = { 0 };
	char *xml = NULL;

	base(&c); /* no disk */
	cr_assert_lt(qm_cookie_format(&c, &xml, &err), 0);
	cr_assert_str_eq(err.error_class, "CookieInvalid");
	base(&c);
	disk(&c, "vda", "", 0);
	qm_error_clear(&err);
	cr_assert_lt(qm_cookie_format(&c, &xml, &err), 0);
	cr_assert(strstr(err.text, "capacity"), "%s", err.text);
	base(&c);
	disk(&c, "vda", "", 5);
	disk(&c, "vda", "", 5);
	qm_error_clear(&err);
	cr_assert_lt(qm_cookie_format(&c, &xml, &err), 0);
	cr_assert(strstr(err.text, "twice"), "%s", err.text);
	base(&c);
	strcpy(c.nbd.host, "192.0.2.1"); /* a server without a port */
	disk(&c, "vda", "vda", 5);
	qm_error_clear(&err);
	cr_assert_lt(qm_cookie_format(&c, &xml, &err), 0);
	cr_assert_null(xml);
}

Test(cookie_nbd, reader_refuses_hostile_sections)
{
	static const char *const bad[] = {
		"<nbd/>",					 /* no disk */
		"<nbd><disk target='vda' capacity='0'/></nbd>",	 /* empty */
		"<nbd><disk target='vda' capacity='-1'/></nbd>", /* negative */
		"<nbd><disk target='vda' capacity='99999999999999999999'/></nbd>", /* overflow
										    */
		"<nbd><disk target='vda' capacity='1e6'/></nbd>",  /* not a number */
		"<nbd><disk capacity='5'/></nbd>",		   /* no target */
		"<nbd><disk target='../etc' capacity='5'/></nbd>", /* a path */
		"<nbd><disk target='vda' export='a b' capacity='5'/></nbd>", /* a space */
		"<nbd><disk target='vda' capacity='5'/><disk target='vda' "
		"capacity='5'/></nbd>", /* twice */
		"<nbd host='h' port='0'><disk target='vda' export='vda' "
		"capacity='5'/></nbd>", /* port 0 */
		"<nbd host='h' port='70000'><disk target='vda' export='vda' "
		"capacity='5'/></nbd>",
		"<nbd host='h'><disk target='vda' export='vda' capacity='5'/></nbd>", /* no
											 port */
		"<nbd port='5'><disk target='vda' capacity='5'/></nbd>", /* no host */
		"<nbd host='h' port='5'><disk target='vda' capacity='5'/></nbd>", /* no
										     export
										   */
		/* a UNIX socket: absolute, short enough for sun_path, alone, with exports */
		"<nbd socket='nbd.sock'><disk target='vda' export='vda' capacity='5'/></nbd>",
		"<nbd socket='/r/nbd.sock'><disk target='vda' capacity='5'/></nbd>",
		"<nbd socket='/r/nbd.sock' host='h' port='5'><disk target='vda' export='vda' "
		"capacity='5'/></nbd>",
		"<nbd socket='/r/nbd&#10;.sock'><disk target='vda' export='vda' "
		"capacity='5'/></nbd>",
		"<nbd socket='/0123456789012345678901234567890123456789012345678901234567890123"
		"4567890123456789012345678901234567890123456789'><disk target='vda' export='vda' "
		"capacity='5'/></nbd>",
		"<nbd><disk target='vda' capacity='5'/></nbd><nbd><disk target='vdb' "
		"capacity='5'/></nbd>",
		"", /* announced, absent */
		/* inc's backing file: absolute, with a format qemu-img reads plainly */
		"<nbd><disk target='vda' capacity='5' backing='base.raw' "
		"backing-format='raw'/></nbd>",
		"<nbd><disk target='vda' capacity='5' backing='/b'/></nbd>",
		"<nbd><disk target='vda' capacity='5' backing='/b' "
		"backing-format='vmdk'/></nbd>",
		"<nbd><disk target='vda' capacity='5' backing-format='raw'/></nbd>",
		"<nbd><disk target='vda' capacity='5' backing='/b&#10;x' "
		"backing-format='raw'/></nbd>",
	};
	struct qm_cookie c;
	struct qm_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_lt(parse_nbd(bad[i], &c, &err), 0, "accepted %s", bad[i]);
		cr_assert_str_eq(err.error_class, "CookieInvalid", "%s: %s", bad[i],
				 err.text);
		cr_assert_eq(c.features, 0);
	}
}

Test(cookie_nbd, reader_refuses_more_disks_than_it_holds)
{
	char section[4096] = "<nbd>";
	struct qm_cookie c;
	struct qm_error err;

	for (int i = 0; i <= QM_COOKIE_MAX_DISKS; i++)
		snprintf(section + strlen(section), sizeof(section) - strlen(section),
			 "<disk target='d%d' capacity='5'/>", i);
	strcat(section, "</nbd>");
	cr_assert_lt(parse_nbd(section, &c, &err), 0);
	cr_assert(strstr(err.text, "more than"), "%s", err.text);
}

Test(cookie_nbd, reader_of_an_older_peer_refuses_mandatory_nbd)
{
	struct qm_cookie c;
	struct qm_error err = { 0 };
	const char *xml = "<qemu-migration><name>vm1</name><uuid>" VM_UUID "</uuid>"
			  "<hostname>h</hostname><hostuuid>" HOST_UUID "</hostuuid>"
			  "<feature name='nbd2' mandatory='yes'/></qemu-migration>";

	/* What an older reader does with "nbd" is what this one does with "nbd2". */
	cr_assert_lt(qm_cookie_parse(xml, strlen(xml), NULL, &c, &err), 0);
	cr_assert_str_eq(err.error_class, "CookieFeature");
	cr_assert_eq(parse_nbd("<nbd><disk target='vda' capacity='5'/></nbd>", &c, &err),
		     0, "%s", err.text);
	cr_assert_eq(c.nbd.disks[0].capacity, 5);
}

/* --copy-storage inc: each disk's shared backing file and its format. */
Test(cookie_nbd, backing_file_reads_back_the_same)
{
	struct qm_cookie c, back;
	struct qm_error err = { 0 };
	char *xml = NULL;

	base(&c);
	disk(&c, "vda", "", 1048576);
	strcpy(c.nbd.disks[0].backing, "/srv/shared/base image.qcow2");
	strcpy(c.nbd.disks[0].backing_format, "qcow2");
	disk(&c, "vdb", "", 1048576); /* copied whole: no backing */
	cr_assert_eq(qm_cookie_format(&c, &xml, &err), 0, "%s", err.text);
	cr_assert(strstr(xml, "backing=\"/srv/shared/base image.qcow2\" "
			      "backing-format=\"qcow2\""),
		  "%s", xml);
	cr_assert_eq(qm_cookie_parse(xml, strlen(xml), NULL, &back, &err), 0, "%s",
		     err.text);
	cr_assert_str_eq(back.nbd.disks[0].backing, "/srv/shared/base image.qcow2");
	cr_assert_str_eq(back.nbd.disks[0].backing_format, "qcow2");
	cr_assert_str_eq(back.nbd.disks[1].backing, "");
	cr_assert_str_eq(back.nbd.disks[1].backing_format, "");
	free(xml);
}
