# The README's two commands: `make run` and `make test`. Both install what is missing first.
BUILD ?= build
ASAN_BUILD ?= build-asan
WERROR ?= ON
CMAKE_FLAGS ?=
NINJA_JOBS ?=

.PHONY: all bootstrap configure build run demo test test-fast bench clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOVERFLOWD_WERROR=$(WERROR) $(CMAKE_FLAGS)

configure: bootstrap $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD) $(if $(NINJA_JOBS),-j$(NINJA_JOBS))

# The demo: a synthetic capture of background traffic and a SYN flood, then the sender on it at
# the default rate, printing signed reports (nothing is sent anywhere).
run: build
	@$(BUILD)/overflowd synth --out $(BUILD)/demo.pcap
	@$(BUILD)/overflowd -f $(BUILD)/demo.pcap --key $(BUILD)/demo.key \
	  --email noc@example.net --identity "Example Net (demo)"

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 $(if $(NINJA_JOBS),-j$(NINJA_JOBS),-j2)

bench: build
	bench/run_benchmarks.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
