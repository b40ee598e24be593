# The README's two commands: `make run` and `make test`. Both install what is missing first (each
# only its own package set: scripts/bootstrap build|run|test). `make check` is the inner loop.
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
WERROR ?= ON
CMAKE_FLAGS ?=
NINJA_JOBS ?=
CTEST_JOBS = $(if $(NINJA_JOBS),-j$(NINJA_JOBS),-j2)

.PHONY: all bootstrap bootstrap-build bootstrap-run bootstrap-test bootstrap-package bootstrap-image bootstrap-bench \
        configure build run check test test-fast test-asan test-tsan fuzz bench bench-all deb image test-image clean

all: build

bootstrap:
	@scripts/bootstrap

bootstrap-build bootstrap-run bootstrap-test bootstrap-package bootstrap-image bootstrap-bench: bootstrap-%:
	@scripts/bootstrap $*

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOVERFLOWD_WERROR=$(WERROR) $(CMAKE_FLAGS)

configure: bootstrap-build $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD) $(if $(NINJA_JOBS),-j$(NINJA_JOBS))

# The demo: a synthetic capture of background traffic and a SYN flood, then the sender on it at
# the default rate, printing signed reports (nothing is sent anywhere). Builds overflowd alone.
run: bootstrap-run $(BUILD)/build.ninja
	ninja -C $(BUILD) overflowd $(if $(NINJA_JOBS),-j$(NINJA_JOBS))
	@$(BUILD)/overflowd synth --out $(BUILD)/demo.pcap
	@$(BUILD)/overflowd -f $(BUILD)/demo.pcap --key $(BUILD)/demo.key \
	  --email noc@example.net --identity "Example Net (demo)"

# The inner loop: the unit tests and every fuzz target's corpus replay (CTest labels unit and
# fuzz), in build/; builds only their binaries (not overflowd, the benchmarks or end-to-end tests).
check: configure
	ninja -C $(BUILD) unit_tests fuzz_replays $(if $(NINJA_JOBS),-j$(NINJA_JOBS))
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -L '^(unit|fuzz)$$' $(CTEST_JOBS)

# Every test four ways: the ordinary build; the whole suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer; the threaded tests under ThreadSanitizer; and each libFuzzer target
# for FUZZ_SECONDS (clang).
test: test-fast test-asan test-tsan fuzz

test-fast: bootstrap-test build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 $(CTEST_JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOVERFLOWD_SANITIZE=ON \
	  -DOVERFLOWD_BENCH=OFF -DOVERFLOWD_WERROR=$(WERROR) $(CMAKE_FLAGS)

test-asan: bootstrap-test $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD) $(if $(NINJA_JOBS),-j$(NINJA_JOBS))
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
	  ctest --output-on-failure --timeout 900 $(CTEST_JOBS)

# ThreadSanitizer over the tests that run threads (CTest label `threads`, tests/CMakeLists.txt):
# only their binaries are built. Skipped, saying why, where TSan cannot run (scripts/tsan-check).
TSAN_CONFIGURE = cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOVERFLOWD_TSAN=ON \
  -DOVERFLOWD_BENCH=OFF -DOVERFLOWD_WERROR=$(WERROR) $(CMAKE_FLAGS)

test-tsan: bootstrap-build
	@if prefix=$$(scripts/tsan-check); then \
	  { test -f $(TSAN_BUILD)/build.ninja || $(TSAN_CONFIGURE); } && \
	  ninja -C $(TSAN_BUILD) threaded_tests $(if $(NINJA_JOBS),-j$(NINJA_JOBS)) && \
	  cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    $$prefix ctest --output-on-failure --timeout 900 -L '^threads$$' $(CTEST_JOBS); \
	else echo "test-tsan: SKIPPED: $$prefix"; fi

$(FUZZ_BUILD)/build.ninja:
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DOVERFLOWD_FUZZ=ON -DOVERFLOWD_BENCH=OFF $(CMAKE_FLAGS)

fuzz: bootstrap-test $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) fuzzers $(if $(NINJA_JOBS),-j$(NINJA_JOBS))
	scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The Debian package overflowd_<version>_amd64.deb in $(BUILD) (CMake install rules + CPack,
# cmake/package.cmake): the binary, both systemd units, the manual pages made from --help, the
# example configs. Configuring again refreshes the version's git part. See docs/operations.md.
deb: bootstrap-package configure
	cmake $(BUILD)
	ninja -C $(BUILD) overflowd man package_files $(if $(NINJA_JOBS),-j$(NINJA_JOBS))
	cd $(BUILD) && cpack -G DEB
	@ls -l $(BUILD)/overflowd_*_amd64.deb

# The container image overflowd:<version> (mmdebstrap rootfs with the .deb, imported by podman),
# and its test; neither is part of `make test` (docs/operations.md says why).
image: bootstrap-image deb
	scripts/make-image $(BUILD)

test-image: image
	OVERFLOWD_BUILD=$(abspath $(BUILD)) /usr/bin/python3 tests/image/test_image.py

# One table of the headline figures with their targets and the peers' figures from the same run
# (bench/bench_table.py, several minutes), printed and written into README.md's performance section
# (dated, with the CPU model); bench-all runs every suite with 5 repetitions.
bench: bootstrap-bench build
	/usr/bin/python3 bench/bench_table.py $(BUILD) --readme README.md

bench-all: bootstrap-bench build
	bench/run_benchmarks.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
