# irqd top-level build. Everything lands in build/ (build/asan, build/tsan for sanitizer variants).
#
#   make              build the server, the client library, irqctl, tests and benchmarks
#   make check        every test: unit + integration (plain, ASan+UBSan, TSan), install, Debian
#                     package, fuzz (short), the Linux guest (check-vm), GNU Mach boots (check-mach)
#   make bench        benchmarks (figures and ratios, one run)
#   make demo         the README's demonstration on the embedded default (sim lines)
#   make fuzz         every libFuzzer target for FUZZ_SECONDS (600) each
#   make soak         64 clients on 256 lines, SOAK_EVENTS (10^9) events, memory kept flat
#
#   make install      PREFIX=/usr/local DESTDIR= : irqd, irqctl, libirqd (shared and static), headers,
#                     pkg-config file, example configuration, systemd units, man pages
#
# Variant builds: `make VARIANT=asan` or `make VARIANT=tsan` put objects in build/<variant>/.

VARIANT ?=
ifeq ($(VARIANT),)
B := build
else
B := build/$(VARIANT)
endif

CC ?= cc
CFLAGS_BASE := -std=gnu11 -g -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
	-Iomega0-api/include -Icoalesce -Iirqd -Iirqctl -Ireport -Idrivers -I.
ifeq ($(VARIANT),asan)
CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_SAN := -fsanitize=address,undefined
endif
ifeq ($(VARIANT),tsan)
CFLAGS_BASE += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS_SAN := -fsanitize=thread
endif
CFLAGS += $(CFLAGS_BASE)
LDLIBS_URCU := -lurcu-memb -lurcu-common
LDLIBS_PCI := -lpciaccess
LDLIBS_CMOCKA := -lcmocka
LDFLAGS += $(LDFLAGS_SAN) -pthread

# --- sources, one list per folder -------------------------------------------------------
COALESCE_SRC := coalesce/coalesce.c coalesce/adaptive.c
CORE_SRC     := irqd/core/flow.c irqd/core/storm.c irqd/core/hist.c
SERVER_SRC   := irqd/main.c irqd/server.c irqd/delivery.c irqd/session.c irqd/source_sim.c \
		irqd/source_eventfd.c irqd/source_vfio.c irqd/source_uio.c irqd/config.c \
		irqd/policy.c irqd/profile.c util/vfio.c util/pci_sysfs.c util/sched_slice.c
CLIENT_SRC   := omega0-api/client.c omega0-api/omega0.c omega0-api/simdev.c omega0-api/profile.c \
		irqd/core/hist.c util/unixmsg.c util/sched_slice.c
# The reference drivers: virtqueue core, transports, virtio-blk, virtio-net.
DRIVER_SRC   := drivers/virtio/virtqueue.c drivers/virtio/transport.c drivers/virtio/irq.c \
		drivers/vhost-user/vhost_user.c drivers/virtio-pci/virtio_pci.c \
		drivers/virtio-pci/modern.c util/vfio.c util/pci_sysfs.c \
		drivers/virtio-blk/virtio_blk.c drivers/virtio-blk/blkq.c drivers/virtio-net/virtio_net.c
PEER_SRC     := peers/peer.c
IRQCTL_SRC   := irqctl/irqctl.c irqctl/pci.c irqctl/profile.c irqctl/top.c report/svg.c \
		util/pci_sysfs.c

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBIRQD_A := $(B)/lib/libirqd.a
# The shared client library: soname libirqd.so.$(SOVERSION), only irqd_* and omega0_* exported.
VERSION := 0.3.0
SOVERSION := 0
LIBIRQD_SO := $(B)/lib/libirqd.so.$(VERSION)
pic = $(patsubst %.c,$(B)/pic/%.o,$(1))
LIBCOALESCE_A := $(B)/lib/libcoalesce.a
LIBCORE_A := $(B)/lib/libirqdcore.a
LIBVIRTIO_A := $(B)/lib/libvirtio.a

UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
INTEGRATION_TESTS := $(patsubst tests/integration/%.c,$(B)/tests/%,$(wildcard tests/integration/test_*.c))
BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/bench_*.c))
# Tests that need real devices: they run inside the QEMU guest (vm/, make check-vm), not here.
VM_TESTS := $(patsubst tests/vm/%.c,$(B)/vmtests/%,$(wildcard tests/vm/test_*.c))
VM_ISOLATION := $(B)/vmtests/isolation

PROGRAMS := $(B)/bin/irqd $(B)/bin/irqctl $(LIBIRQD_SO) $(B)/bin/blkd $(B)/bin/vblkctl

# bench/netgen, the rate-capped vhost-user device of the packet benchmark and of test_vnet,
# built on DPDK's librte_vhost, without sanitizers in every variant (it is a device, not our
# code under test, and DPDK is not built for them). DPDK's headers are system headers to -Werror.
NETGEN := $(B)/bench/netgen
NETGEN_CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread
DPDK_CFLAGS = $(patsubst -I%,-isystem %,$(shell pkg-config --cflags libdpdk))
DPDK_LIBS = $(shell pkg-config --libs libdpdk)

.PHONY: all check check-plain check-install check-deb check-fuzz check-vm check-mach fuzz soak install bench demo deps clean
all: $(PROGRAMS) $(UNIT_TESTS) $(INTEGRATION_TESTS) $(VM_TESTS) $(VM_ISOLATION) $(BENCHES) \
	$(NETGEN)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(LIBIRQD_SO): $(call pic,$(CLIENT_SRC)) omega0-api/libirqd.map
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libirqd.so.$(SOVERSION) \
		-Wl,--version-script=omega0-api/libirqd.map -Wl,-z,defs $(call pic,$(CLIENT_SRC)) \
		-o $@ -pthread
	ln -sf libirqd.so.$(VERSION) $(B)/lib/libirqd.so.$(SOVERSION)
	ln -sf libirqd.so.$(SOVERSION) $(B)/lib/libirqd.so

$(LIBCOALESCE_A): $(call obj,$(COALESCE_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBCORE_A): $(call obj,$(CORE_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBVIRTIO_A): $(call obj,$(DRIVER_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBIRQD_A): $(call obj,$(CLIENT_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/bin/irqd: $(call obj,$(SERVER_SRC)) $(LIBCORE_A) $(LIBCOALESCE_A) $(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_URCU) -lsystemd
# The block driver server and its command-line client.
$(B)/bin/blkd: $(call obj,drivers/virtio-blk/blkd.c) $(LIBVIRTIO_A) $(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@
$(B)/bin/vblkctl: $(call obj,drivers/virtio-blk/vblkctl.c) $(LIBVIRTIO_A) $(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@
$(B)/bin/irqctl: $(call obj,$(IRQCTL_SRC)) $(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_PCI) -lm

# Unit tests link the pure libraries only (no I/O below them).
$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(LIBCORE_A) $(LIBCOALESCE_A) \
		$(call obj,irqctl/pci.c util/pci_sysfs.c) \
		$(call obj,drivers/virtio/virtqueue.c) \
		$(call obj,report/svg.c report/stats.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CMOCKA) $(LDLIBS_PCI) -lm
# Integration tests start the real irqd and talk to it through the client library.
$(B)/tests/test_%: $(B)/obj/tests/integration/test_%.o $(B)/obj/tests/integration/harness.o \
		$(B)/obj/tests/integration/sharer.o $(call obj,$(PEER_SRC)) $(LIBVIRTIO_A) $(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CMOCKA)
$(B)/vmtests/%: $(B)/obj/tests/vm/%.o $(B)/obj/tests/vm/edu.o $(B)/obj/tests/integration/harness.o \
		$(call obj,$(PEER_SRC)) $(LIBVIRTIO_A) $(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_CMOCKA) $(LDLIBS_PCI)
$(B)/bench/%: $(B)/obj/bench/%.o $(call obj,report/svg.c report/stats.c) $(call obj,$(PEER_SRC)) $(LIBVIRTIO_A) \
		$(LIBIRQD_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ -lm

$(NETGEN): bench/netgen/netgen.c
	@mkdir -p $(dir $@)
	$(CC) $(NETGEN_CFLAGS) $(DPDK_CFLAGS) $< -o $@ $(DPDK_LIBS)

# --- checks ------------------------------------------------------------------------------
deps:
	@scripts/install-deps

check: deps
	$(MAKE) check-plain
	$(MAKE) check-install
	$(MAKE) check-deb
	$(MAKE) check-fuzz
	$(MAKE) check-vm
	$(MAKE) check-mach
	$(MAKE) VARIANT=asan check-plain
	$(MAKE) VARIANT=tsan check-plain
	@echo "make check: all variants passed"

check-plain: all
	@tests/run-tests $(B)

# --- real devices: tests/vm inside a Linux guest under QEMU (vm/README.md) --------------------
# The guest binds two edu devices, the virtio-blk (one with MSI-X, one without) and virtio-net
# devices and an e1000e (MSI-X) to vfio-pci and a third edu to uio_pci_generic; each test program runs as /tests/NAME.sh, and
# the guest reports every verdict and the whole result to vm/run through its exit status. What
# the disk test wrote is then looked for in the image file.
VM_DIR := $(B)/vm
VM_BIND := vm.vfio=0000:00:03.0,0000:00:04.0,0000:00:05.0,0000:00:06.0,0000:00:08.0,0000:00:09.0 \
	vm.uio=0000:00:07.0
VM_DEVICES := -device edu,addr=07.0 -device e1000e,addr=08.0 \
	-drive if=none,id=disk9,format=raw,file=$(VM_DIR)/disk-intx.img \
	-device virtio-blk-pci,drive=disk9,disable-legacy=on,iommu_platform=on,vectors=0,addr=09.0
check-vm: deps all
	@rm -rf $(VM_DIR)/tests && mkdir -p $(VM_DIR)/tests
	@for t in $(VM_TESTS); do \
		printf '#!/bin/sh\nexec %s\n' "$(CURDIR)/$$t" > $(VM_DIR)/tests/$$(basename $$t).sh; \
		chmod +x $(VM_DIR)/tests/$$(basename $$t).sh; \
	done
	GUEST_TESTS=$(VM_DIR)/tests vm/build-guest $(VM_DIR) $(B)/bin/irqd $(B)/bin/irqctl $(VM_TESTS) \
		$(VM_ISOLATION)
	rm -f $(VM_DIR)/disk.img $(VM_DIR)/disk-intx.img
	truncate -s 16M $(VM_DIR)/disk-intx.img
	VM_DIR=$(VM_DIR) VM_APPEND='$(VM_BIND)' vm/run -- $(VM_DEVICES)
	tests/vm/check-disk $(VM_DIR)/disk.img
	tests/vm/check-disk $(VM_DIR)/disk-intx.img
	@# the same guest on machines that cannot isolate the device: irqd refuses with the reason
	VM_DIR=$(VM_DIR) VM_IOMMU=none VM_APPEND='$(VM_BIND) vm.run=$(CURDIR)/$(VM_ISOLATION)' vm/run
	VM_DIR=$(VM_DIR) VM_IOMMU=intel-iommu,intremap=off \
		VM_APPEND='$(VM_BIND) vm.run=$(CURDIR)/$(VM_ISOLATION)' vm/run

# --- GNU Mach x86_64: the freestanding runtime, irqd as a Mach server (irqd/core and coalesce/
# unchanged, the protocol a MIG subsystem) and boot tests under QEMU (mach/README.md). mach/
# builds with its own flags (freestanding, MIG stubs from Debian trixie's gnumach-dev).
check-mach: deps
	mach/fetch
	$(MAKE) -C mach check
	$(MAKE) -C mach check-harness

# --- fuzzing (clang libFuzzer, with ASan and UBSan) --------------------------------------
FUZZ_CC ?= clang
F := build/fuzz
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst fuzz/%.c,$(F)/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SERVER_OBJ := $(patsubst %.c,$(F)/obj/%.o,$(filter-out irqd/main.c,$(SERVER_SRC)) util/unixmsg.c \
	$(CORE_SRC) $(COALESCE_SRC))
FUZZ_SECONDS ?= 600

$(F)/obj/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer -MMD -MP -c $< -o $@
$(F)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_BASE) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(F)/fuzz_server: $(F)/obj/fuzz/fuzz_server.o $(FUZZ_SERVER_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS_URCU) -pthread
$(F)/fuzz_config: $(F)/obj/fuzz/fuzz_config.o $(F)/obj/irqd/config.o
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -o $@
$(F)/fuzz_virtq: $(F)/obj/fuzz/fuzz_virtq.o $(F)/obj/drivers/virtio/virtqueue.o
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -o $@
$(F)/fuzz_vhost_user: $(F)/obj/fuzz/fuzz_vhost_user.o $(patsubst %.c,$(F)/obj/%.o,$(DRIVER_SRC) \
		$(CLIENT_SRC))
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ -o $@ -pthread $(LDLIBS_PCI)

# A short run of every target from the committed seeds (make check); `make fuzz` runs each for
# FUZZ_SECONDS and keeps what it finds in build/fuzz/corpus-NAME.
check-fuzz: deps $(FUZZ_TARGETS)
	@fuzz/run $(F) 10
fuzz: deps $(FUZZ_TARGETS)
	@fuzz/run $(F) $(FUZZ_SECONDS)

# --- soak: tests/integration/test_soak with 10^9 events (about 6 minutes here), memory compared between the
# first and the last minute; `make soak VARIANT=asan` (or tsan) runs it under a sanitizer
SOAK_EVENTS ?= 1000000000
SOAK_WINDOW_S ?= 60
soak: deps $(B)/bin/irqd $(B)/tests/test_soak
	TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp exitcode=66" \
		SOAK_EVENTS=$(SOAK_EVENTS) SOAK_WINDOW_S=$(SOAK_WINDOW_S) $(B)/tests/test_soak

# --- installation ------------------------------------------------------------------------
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/irqd
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install

install: $(B)/bin/irqd $(B)/bin/irqctl $(LIBIRQD_A) $(LIBIRQD_SO)
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCLUDEDIR)/irqd $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 $(B)/bin/irqd $(DESTDIR)$(SBINDIR)/irqd
	$(INSTALL) -m 0755 $(B)/bin/irqctl $(DESTDIR)$(BINDIR)/irqctl
	$(INSTALL) -m 0644 $(LIBIRQD_A) $(DESTDIR)$(LIBDIR)/libirqd.a
	$(INSTALL) -m 0644 $(LIBIRQD_SO) $(DESTDIR)$(LIBDIR)/libirqd.so.$(VERSION)
	ln -sf libirqd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libirqd.so.$(SOVERSION)
	ln -sf libirqd.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libirqd.so
	$(INSTALL) -m 0644 omega0-api/include/irqd/*.h $(DESTDIR)$(INCLUDEDIR)/irqd/
	$(INSTALL) -m 0644 omega0-api/include/omega0.h $(DESTDIR)$(INCLUDEDIR)/omega0.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' dist/libirqd.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libirqd.pc
	$(INSTALL) -m 0644 dist/irqd.conf $(DESTDIR)$(DOCDIR)/irqd.conf.example
	$(INSTALL) -d $(DESTDIR)$(SYSCONFDIR)/irqd
	[ -e $(DESTDIR)$(SYSCONFDIR)/irqd/irqd.conf ] || \
		$(INSTALL) -m 0644 dist/irqd.conf $(DESTDIR)$(SYSCONFDIR)/irqd/irqd.conf
	sed -e 's|@SBINDIR@|$(SBINDIR)|' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|' dist/irqd.service.in \
		> $(DESTDIR)$(UNITDIR)/irqd.service
	$(INSTALL) -m 0644 dist/irqd.socket $(DESTDIR)$(UNITDIR)/irqd.socket
	$(INSTALL) -m 0644 man/irqd.8 man/irqctl.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 man/libirqd.3 $(DESTDIR)$(MANDIR)/man3/

# Installs into a scratch DESTDIR and builds and runs a separate client with pkg-config only.
check-install: all
	@tests/install/run $(B)

# Builds the Debian packages, lintian, installs, uses, purges (root).
check-deb:
	@tests/deb/run

bench: deps all
	@bench/run $(B)

demo: deps all
	@scripts/demo $(B)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
