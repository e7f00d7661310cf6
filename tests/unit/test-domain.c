/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The domain description's typed view, its bounds, reading from files, and
 * the migratable form; the data folders are test-domain-data.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <libxml/tree.h>

#include "tests/unit/testdata.h"
#include "xml/domain.h"

#define UUID "c7a5fdbd-edaf-9455-926a-d65c16db1809"

static struct qm_domain *parse_data(const char *rel)
{
	_cleanup_free_ char *path = td_path(rel);
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_assert_eq(qm_domain_parse_file(path, &d, &err), 0, "%s: %s: %s", rel,
		     err.error_class, err.text);
	return d;
}

/* A description with @devices and @extra in <domain>, as a string. */
static char *domain_with(const char *extra, const char *devices)
{
	char *xml;

	cr_assert(asprintf(&xml,
			   "<domain type='kvm' "
			   "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
			   "<name>vm1</name><uuid>" UUID "</uuid>"
			   "<memory>1024</memory><os><type>hvm</type></os>%s"
			   "<devices>%s</devices></domain>",
			   extra, devices) >= 0);
	return xml;
}

static struct qm_domain *parse_with(const char *extra, const char *devices)
{
	_cleanup_free_ char *xml = domain_with(extra, devices);

	return td_domain(xml);
}

Test(domain, reads_the_identity_of_the_example)
{
	struct qm_domain *d = parse_data("domain/example.xml");

	cr_expect_eq(d->accel, QM_DOMAIN_ACCEL_KVM);
	cr_expect_str_eq(d->name, "vm1");
	cr_expect_str_eq(d->uuid, UUID);
	cr_expect_eq(d->memory_kib, 1024 * 1024);
	cr_expect_eq(d->vcpus, 2);
	cr_expect_eq(d->vcpus_current, 2);
	cr_expect_str_eq(d->arch, "x86_64");
	cr_expect_str_eq(d->machine, "pc-q35-8.2");
	cr_expect_str_eq(d->emulator, "/usr/bin/qemu-system-x86_64");
	cr_expect_eq(d->cpu_mode, QM_DOMAIN_CPU_HOST_PASSTHROUGH);
	cr_expect_null(d->cpu_model);
	cr_expect_eq(d->n_qemu_args, 2);
	cr_expect_str_eq(d->qemu_args[0], "-global");
	cr_expect_str_eq(d->qemu_args[1], "kvm-pit.lost_tick_policy=delay");
	qm_domain_free(d);
}

Test(domain, reads_the_devices_of_the_example)
{
	struct qm_domain *d = parse_data("domain/example.xml");
	const struct qm_domain_disk *disk = d->disks, *cdrom = d->disks + 1;
	const struct qm_domain_net *user = d->nets, *tap = d->nets + 1;
	const struct qm_domain_graphics *vnc = d->graphics;

	cr_assert_eq(d->n_disks, 2);
	cr_expect_eq(disk->device, QM_DOMAIN_DISK_DISK);
	cr_expect_str_eq(disk->file, "/var/lib/qmigrate/vm1.qcow2");
	cr_expect_eq(disk->format, QM_DOMAIN_FORMAT_QCOW2);
	cr_expect_eq(disk->cache, QM_DOMAIN_CACHE_NONE);
	cr_expect_eq(disk->bus, QM_DOMAIN_BUS_VIRTIO);
	cr_expect_str_eq(disk->dev, "vda");
	cr_expect_not(disk->readonly);
	cr_expect_str_eq(disk->serial, "vm1-root");
	cr_expect_eq(disk->address.type, QM_DOMAIN_ADDR_PCI);
	cr_expect_eq(disk->address.bus, 4);
	cr_expect_eq(disk->address.slot, 0);
	cr_expect_str_eq((const char *)disk->node->name, "disk");

	cr_expect_eq(cdrom->device, QM_DOMAIN_DISK_CDROM);
	cr_expect_eq(cdrom->format, QM_DOMAIN_FORMAT_RAW);
	cr_expect_eq(cdrom->cache, QM_DOMAIN_CACHE_DEFAULT);
	cr_expect_eq(cdrom->bus, QM_DOMAIN_BUS_SCSI);
	cr_expect(cdrom->readonly);
	cr_expect_null(cdrom->serial);
	cr_expect_eq(cdrom->address.type, QM_DOMAIN_ADDR_DRIVE);

	cr_assert_eq(d->n_nets, 2);
	cr_expect_eq(user->type, QM_DOMAIN_NET_USER);
	cr_expect_null(user->tap);
	cr_expect_str_eq(user->mac, "52:54:00:6b:3c:58");
	cr_expect_str_eq(user->model, "virtio");
	cr_expect_eq(user->address.bus, 1);
	cr_expect_eq(tap->type, QM_DOMAIN_NET_ETHERNET);
	cr_expect_str_eq(tap->tap, "tap-vm1");
	cr_expect_str_eq(tap->model, "e1000e");
	cr_expect_eq(tap->address.type, QM_DOMAIN_ADDR_NONE);

	cr_assert_eq(d->n_graphics, 1);
	cr_expect_eq(vnc->type, QM_DOMAIN_GRAPHICS_VNC);
	cr_expect(vnc->autoport);
	cr_expect_eq(vnc->port, -1);
	cr_expect_str_eq(vnc->listen, "127.0.0.1");
	cr_expect_str_eq(vnc->passwd, "s3cret-vnc");

	cr_assert_eq(d->n_serials, 2);
	cr_expect_eq(d->serials[0].type, QM_DOMAIN_CHR_PTY);
	cr_expect_eq(d->serials[0].target_port, 0);
	cr_expect_eq(d->serials[1].type, QM_DOMAIN_CHR_UNIX);
	cr_expect_eq(d->serials[1].mode, QM_DOMAIN_CHR_BIND);
	cr_expect_str_eq(d->serials[1].path, "/run/qmigrate/vm1.serial");
	cr_assert_eq(d->n_consoles, 1);
	cr_expect_str_eq(d->consoles[0].target_type, "serial");
	qm_domain_free(d);
}

Test(domain, fills_the_defaults_of_a_minimal_description)
{
	struct qm_domain *d = parse_data("domain/good/minimal.xml");

	cr_expect_eq(d->accel, QM_DOMAIN_ACCEL_TCG);
	cr_expect_eq(d->memory_kib, 524288);
	cr_expect_eq(d->vcpus, 1);
	cr_expect_eq(d->vcpus_current, 1);
	cr_expect_null(d->arch);
	cr_expect_null(d->machine);
	cr_expect_null(d->emulator);
	cr_expect_eq(d->cpu_mode, QM_DOMAIN_CPU_NONE);
	cr_expect_eq(d->n_disks + d->n_nets + d->n_graphics + d->n_serials +
			     d->n_consoles + d->n_qemu_args + d->n_leases,
		     0);
	qm_domain_free(d);
}

Test(domain, reads_every_lease_in_order_with_its_element)
{
	struct qm_domain *d = parse_data("domain/good/leases.xml");

	cr_assert_eq(d->n_leases, 2);
	cr_expect_str_eq(d->leases[0].path, "/srv/leases/vm1.lease");
	cr_expect_str_eq(d->leases[1].path, "/var/lib/qmigrate/leases/vm1-b.lease");
	cr_expect_str_eq((const char *)d->leases[1].node->name, "lease");
	cr_expect_eq(d->n_disks, 1);
	qm_domain_free(d);
}

Test(domain, reads_memory_in_every_unit_as_kib_rounded_up)
{
	static const struct {
		const char *memory;
		uint64_t kib;
	} cases[] = {
		{ "<memory>2048</memory>", 2048 },
		{ "<memory unit='KiB'>2048</memory>", 2048 },
		{ "<memory unit='k'>7</memory>", 7 },
		{ "<memory unit='b'>1024</memory>", 1 },
		{ "<memory unit='bytes'>1025</memory>", 2 },
		{ "<memory unit='b'>1</memory>", 1 },
		{ "<memory unit='KB'>1024</memory>", 1000 },
		{ "<memory unit='MiB'>512</memory>", 512 * 1024 },
		{ "<memory unit='M'>3</memory>", 3 * 1024 },
		{ "<memory unit='MB'>1</memory>", 977 },
		{ "<memory unit='GiB'>4</memory>", 4 * 1024 * 1024 },
		{ "<memory unit='G'>1</memory>", 1024 * 1024 },
		{ "<memory unit='GB'>1</memory>", 976563 },
		{ "<memory unit='TiB'>2</memory>", 2ull << 30 },
		{ "<memory unit='T'>1</memory>", 1ull << 30 },
		{ "<memory unit='TB'>1</memory>", 976562500 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *xml = NULL;
		struct qm_domain *d;

		cr_assert(asprintf(&xml,
				   "<domain type='kvm'><name>vm1</name><uuid>" UUID
				   "</uuid>"
				   "%s<os><type>hvm</type></os></domain>",
				   cases[i].memory) >= 0);
		d = td_domain(xml);
		cr_expect_eq(d->memory_kib, cases[i].kib, "%s: %llu KiB, expected %llu",
			     cases[i].memory, (unsigned long long)d->memory_kib,
			     (unsigned long long)cases[i].kib);
		qm_domain_free(d);
	}
}

Test(domain, guesses_a_disk_bus_from_its_target_as_libvirt_does)
{
	struct qm_domain *d = parse_with(
		"", "<disk><source file='/a'/><target dev='vdb'/></disk>"
		    "<disk><source file='/b'/><target dev='hdc'/></disk>"
		    "<disk><source file='/c'/><target dev='sdd'/></disk>"
		    "<disk><source file='/d'/><target dev='hde' bus='virtio'/></disk>");

	cr_assert_eq(d->n_disks, 4);
	cr_expect_eq(d->disks[0].bus, QM_DOMAIN_BUS_VIRTIO);
	cr_expect_eq(d->disks[1].bus, QM_DOMAIN_BUS_IDE);
	cr_expect_eq(d->disks[2].bus, QM_DOMAIN_BUS_SCSI);
	cr_expect_eq(d->disks[3].bus, QM_DOMAIN_BUS_VIRTIO, "an explicit bus wins");
	qm_domain_free(d);
}

Test(domain, an_empty_cdrom_drive_has_no_file)
{
	struct qm_domain *d = parse_data("domain/good/cdrom-empty.xml");

	cr_assert_eq(d->n_disks, 2);
	for (size_t i = 0; i < 2; i++) {
		cr_expect_eq(d->disks[i].device, QM_DOMAIN_DISK_CDROM);
		cr_expect_null(d->disks[i].file);
		cr_expect(d->disks[i].readonly);
	}
	cr_expect_eq(d->cpu_mode, QM_DOMAIN_CPU_HOST_MODEL);
	qm_domain_free(d);
}

Test(domain, autoport_follows_the_port_unless_it_is_given)
{
	struct qm_domain *d = parse_with(
		"", "<graphics type='vnc'/>"
		    "<graphics type='vnc' port='5901'/>"
		    "<graphics type='vnc' port='5902' autoport='yes'/>"
		    "<graphics type='spice' port='-1' tlsPort='5931' autoport='no'/>");

	cr_assert_eq(d->n_graphics, 4);
	cr_expect(d->graphics[0].autoport);
	cr_expect_eq(d->graphics[0].port, -1);
	cr_expect_not(d->graphics[1].autoport);
	cr_expect_eq(d->graphics[1].port, 5901);
	/* A running guest's description: the port it got with autoport. */
	cr_expect(d->graphics[2].autoport);
	cr_expect_eq(d->graphics[2].port, 5902);
	cr_expect_not(d->graphics[3].autoport);
	cr_expect_eq(d->graphics[3].port, -1);
	cr_expect_eq(d->graphics[3].tls_port, 5931);
	cr_expect_eq(d->graphics[0].tls_port, -1);
	cr_expect_null(d->graphics[0].listen);
	cr_expect_null(d->graphics[0].passwd);
	qm_domain_free(d);
}

Test(domain, reads_every_kind_of_character_device)
{
	struct qm_domain *d = parse_data("domain/good/chardevs.xml");
	const struct qm_domain_chr *s = d->serials, *c = d->consoles;

	cr_assert_eq(d->n_serials, 4);
	cr_expect_eq(s[0].type, QM_DOMAIN_CHR_PTY);
	cr_expect_str_eq(s[0].target_type, "isa-serial");
	cr_expect_eq(s[1].type, QM_DOMAIN_CHR_FILE);
	cr_expect_str_eq(s[1].path, "/var/log/qmigrate/vm1-serial1.log");
	cr_expect_eq(s[1].target_port, 1);
	cr_expect_eq(s[2].type, QM_DOMAIN_CHR_UNIX);
	cr_expect_eq(s[2].mode, QM_DOMAIN_CHR_BIND);
	cr_expect_eq(s[3].type, QM_DOMAIN_CHR_TCP);
	cr_expect_str_eq(s[3].host, "127.0.0.1");
	cr_expect_str_eq(s[3].service, "4555");
	cr_expect(s[3].telnet);

	cr_assert_eq(d->n_consoles, 3);
	cr_expect_eq(c[0].type, QM_DOMAIN_CHR_PTY);
	cr_expect_eq(c[1].type, QM_DOMAIN_CHR_UNIX);
	cr_expect_eq(c[1].mode, QM_DOMAIN_CHR_CONNECT, "libvirt's default mode");
	cr_expect_str_eq(c[1].target_type, "virtio");
	cr_expect_eq(c[2].type, QM_DOMAIN_CHR_TCP);
	cr_expect_str_eq(c[2].host, "::1");
	cr_expect_not(c[2].telnet);
	qm_domain_free(d);
}

Test(domain, reads_qemu_args_from_every_commandline_in_order)
{
	struct qm_domain *d = parse_with(
		"<qemu:commandline><qemu:arg value='-a'/><qemu:env name='X' value='1'/>"
		"<qemu:arg value='-b'/></qemu:commandline>"
		"<commandline><arg value='not qemu namespace'/></commandline>"
		"<qemu:commandline><qemu:arg value='-c d'/></qemu:commandline>",
		"");

	cr_assert_eq(d->n_qemu_args, 3);
	cr_expect_str_eq(d->qemu_args[0], "-a");
	cr_expect_str_eq(d->qemu_args[1], "-b");
	cr_expect_str_eq(d->qemu_args[2], "-c d");
	qm_domain_free(d);
}

Test(domain, reads_identifiers_in_lower_case_and_keeps_them_as_written)
{
	struct qm_domain *d = parse_data("domain/good/upper-case.xml");
	struct qm_error err = { 0 };
	_cleanup_free_ char *xml = NULL;

	cr_expect_str_eq(d->uuid, UUID);
	cr_expect_str_eq(d->nets[0].mac, "52:54:00:ab:cd:ef");
	cr_expect_eq(d->disks[0].address.controller, 1);
	cr_expect_eq(d->disks[0].address.target, 2);
	cr_expect_eq(d->disks[0].address.unit, 3);
	cr_assert_eq(qm_domain_format(d, &xml, &err), 0, "%s", err.text);
	cr_expect(strstr(xml, "C7A5FDBD-EDAF-9455-926A-D65C16DB1809"), "%s", xml);
	cr_expect(strstr(xml, "52:54:00:AB:CD:EF"), "%s", xml);
	qm_domain_free(d);
}

Test(domain, keeps_unknown_elements_and_attributes)
{
	struct qm_domain *d = parse_data("domain/good/unknown-kept.xml");
	struct qm_error err = { 0 };
	_cleanup_free_ char *xml = NULL;
	static const char *const kept[] = {
		"<!-- a comment before the root survives -->",
		"id=\"7\"",
		"<currentMemory unit=\"KiB\">524288</currentMemory>",
		"<?app-hint keep me?>",
		"app:extra=\"1\"",
		"<topology sockets=\"1\" dies=\"1\" cores=\"2\" threads=\"2\"/>",
		"snapshot=\"no\"",
		"discard=\"unmap\"",
		"<app:note>unknown child of a known element</app:note>",
		"multifunction=\"off\"",
		"<qemu:env name=\"QEMU_AUDIO_DRV\" value=\"none\"/>",
		"Two  spaces stay,\nand so does this line break.",
		"      mixed <b>content</b> stays as it is\n",
		"<app:after-devices/>",
		"<!-- and one after it -->",
	};

	cr_assert_eq(qm_domain_format(d, &xml, &err), 0, "%s", err.text);
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
		cr_expect(strstr(xml, kept[i]), "lost '%s':\n%s", kept[i], xml);
	cr_expect_eq(d->cpu_mode, QM_DOMAIN_CPU_CUSTOM);
	cr_expect_str_eq(d->cpu_model, "Skylake-Client-IBRS");
	cr_expect_eq(d->vcpus_current, 1);
	qm_domain_free(d);
}

Test(domain, the_migratable_form_holds_no_password_but_the_view_does)
{
	struct qm_domain *d = parse_data("domain/good/secrets.xml"), *back;
	static const char *const secrets[] = {
		"s3cret-token", "s3cret-inner", "s3cret-login", "s3cret-vnc",
		"s3cret-spice", "s3cret-arg",	"s3cret-disk",	"passwd=",
	};
	struct qm_error err = { 0 };
	_cleanup_free_ char *full = NULL, *mig = NULL;

	cr_assert_eq(qm_domain_format(d, &full, &err), 0, "%s", err.text);
	cr_assert_eq(qm_domain_migratable_format(d, &mig, &err), 0, "%s", err.text);
	for (size_t i = 0; i < ARRAY_SIZE(secrets); i++) {
		cr_expect(strstr(full, secrets[i]), "the full form lost '%s'",
			  secrets[i]);
		cr_expect_null(strstr(mig, secrets[i]), "'%s' in:\n%s", secrets[i], mig);
	}
	/* What is not a secret stays: a reference to one, and a mark that says no. */
	cr_expect(strstr(mig, "<secret type=\"passphrase\""), "%s", mig);
	cr_expect(strstr(mig, "passwdValidTo="), "%s", mig);
	cr_expect(strstr(mig, "not a secret"), "%s", mig);
	cr_expect_str_eq(d->graphics[0].passwd, "s3cret-vnc");
	cr_expect_str_eq(d->graphics[1].passwd, "s3cret-spice");
	cr_expect_eq(d->n_qemu_args, 3);
	cr_expect_eq(d->n_disks, 2);

	/* The copy was stripped, not the description. */
	free(full);
	full = NULL;
	cr_assert_eq(qm_domain_format(d, &full, &err), 0, "%s", err.text);
	cr_expect(strstr(full, "s3cret-vnc"));

	cr_assert_eq(qm_domain_parse(mig, strlen(mig), &back, &err), 0, "%s", err.text);
	cr_expect_null(back->graphics[0].passwd);
	cr_expect_null(back->graphics[1].passwd);
	cr_expect_eq(back->n_qemu_args, 2);
	cr_expect_eq(back->n_disks, 1);
	qm_domain_free(back);
	qm_domain_free(d);
}

/* A well-formed description padded with a comment to exactly @size bytes. */
static char *padded(size_t size)
{
	return td_padded("<domain type='kvm'><name>vm1</name><uuid>" UUID
			 "</uuid><memory>1024</memory>"
			 "<os><type>hvm</type></os><!--",
			 "--></domain>", size);
}

Test(domain, accepts_exactly_the_maximum_size_and_refuses_one_byte_more)
{
	_cleanup_free_ char *fits = padded(QM_DOMAIN_MAX),
			    *over = padded(QM_DOMAIN_MAX + 1);
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_expect_eq(qm_domain_parse(fits, QM_DOMAIN_MAX, &d, &err), 0, "%s", err.text);
	qm_domain_free(d);
	cr_expect_eq(qm_domain_parse(over, QM_DOMAIN_MAX + 1, &d, &err), -E2BIG);
	cr_expect_str_eq(err.error_class, "DomainTooLarge");
	cr_expect(strstr(err.text, "262145 bytes"), "%s", err.text);
	cr_expect_null(d);
}

Test(domain, a_huge_length_is_refused_before_a_byte_is_read)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_expect_eq(qm_domain_parse("<domain/>", SIZE_MAX, &d, &err), -E2BIG);
	cr_expect_str_eq(err.error_class, "DomainTooLarge");
}

/*
 * Indentation grows with depth: a compact description nested deep enough
 * would be written past the bound, and is refused rather than written.
 */
Test(domain, refuses_to_write_what_no_reader_would_take)
{
	_cleanup_free_ char *chain = NULL, *extra = NULL, *xml = NULL, *out = NULL;
	struct qm_error err = { 0 };
	struct qm_domain *d;
	size_t n = 0;

	chain = calloc(1, 100 * 7 + 1);
	extra = calloc(1, 30 * 100 * 7 + 1);
	cr_assert(chain && extra);
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(chain + n, "<x>");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(chain + n, "</x>");
	for (int i = 0; i < 30; i++)
		strcat(extra, chain);
	xml = domain_with(extra, "");
	cr_assert_lt(strlen(xml), QM_DOMAIN_MAX);
	d = td_domain(xml);
	cr_expect_eq(qm_domain_format(d, &out, &err), -E2BIG);
	cr_expect_str_eq(err.error_class, "DomainTooLarge", "%s", err.text);
	cr_expect_null(out);
	qm_domain_free(d);
}

Test(domain, keeps_the_first_error)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_expect_eq(qm_domain_parse("<x/>", 4, &d, &err), -EINVAL);
	cr_expect_eq(qm_domain_parse("", 0, &d, &err), -EBADMSG);
	cr_expect_str_eq(err.error_class, "DomainInvalid");
	cr_expect(strstr(err.text, "the root element is <x>"), "%s", err.text);
}

Test(domain, free_accepts_null)
{
	qm_domain_free(NULL);
}

static char *temp_path(const char *name)
{
	char *path;

	cr_assert(asprintf(&path, "%s/qm-domain-%d-%s", P_tmpdir, (int)getpid(), name) >=
		  0);
	return path;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

Test(domain_file, reads_a_file_of_exactly_the_maximum_size_and_no_larger)
{
	_cleanup_free_ char *path = temp_path("max.xml");
	_cleanup_free_ char *fits = padded(QM_DOMAIN_MAX),
			    *over = padded(QM_DOMAIN_MAX + 1);
	struct qm_error err = { 0 };
	struct qm_domain *d;

	write_file(path, fits, QM_DOMAIN_MAX);
	cr_expect_eq(qm_domain_parse_file(path, &d, &err), 0, "%s", err.text);
	qm_domain_free(d);
	write_file(path, over, QM_DOMAIN_MAX + 1);
	cr_expect_eq(qm_domain_parse_file(path, &d, &err), -E2BIG);
	cr_expect_str_eq(err.error_class, "DomainTooLarge");
	cr_expect(strstr(err.text, path), "%s", err.text);
	unlink(path);
}

Test(domain_file, a_missing_file_is_named_in_the_error)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_expect_eq(qm_domain_parse_file("/nonexistent/vm1.xml", &d, &err), -ENOENT);
	cr_expect_str_eq(err.error_class, "DomainFile");
	cr_expect(strstr(err.text, "/nonexistent/vm1.xml"), "%s", err.text);
	cr_expect_null(d);
}

/* A FIFO with no writer would block a plain open, and a device may never end. */
Test(domain_file, refuses_what_is_not_a_regular_file_without_blocking, .timeout = 10)
{
	_cleanup_free_ char *fifo = temp_path("fifo");
	const char *const paths[] = { fifo, "/dev/zero", P_tmpdir };
	struct qm_domain *d;

	cr_assert_eq(mkfifo(fifo, 0600), 0, "%s", strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		struct qm_error err = { 0 };

		cr_expect_eq(qm_domain_parse_file(paths[i], &d, &err), -EINVAL, "%s: %s",
			     paths[i], err.text);
		cr_expect_str_eq(err.error_class, "DomainFile");
		cr_expect(strstr(err.text, "not a regular file"), "%s", err.text);
	}
	unlink(fifo);
}

/*
 * An external entity or DTD on a port we listen on: the reader must refuse
 * the description without ever connecting.
 */
Test(domain, never_fetches_an_external_entity_or_dtd)
{
	static const char *const forms[][2] = {
		{ "<!DOCTYPE domain [<!ENTITY x SYSTEM \"",
		  "/x\">]><domain>&x;</domain>" },
		{ "<!DOCTYPE domain SYSTEM \"", "/x.dtd\"><domain/>" },
		{ "<!DOCTYPE domain [<!ENTITY % p SYSTEM \"", "/p\"> %p;]><domain/>" },
	};
	int port;
	_cleanup_close_ int lfd = td_listen_loopback(&port);

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		struct qm_error err = { 0 };
		struct qm_domain *d;
		char xml[512];
		int n = snprintf(xml, sizeof(xml), "%shttp://127.0.0.1:%d%s", forms[i][0],
				 port, forms[i][1]);

		cr_expect_eq(qm_domain_parse(xml, (size_t)n, &d, &err), -EBADMSG);
		cr_expect_str_eq(err.error_class, "DomainUnsafe", "%s: %s", xml,
				 err.text);
	}
	td_expect_no_connection(lfd);
}
