# Paddock's developer entry points. `make help` lists them.

GO      ?= go
BIN     := bin
CMDS    := ./compiler/cmd/policyc ./tools/agentctl ./agentd/cmd/agentd
# The shim is built without cgo: a static binary starts in about half the
# time of one linked against libc, and every launch waits for it.
SHIM    := ./agentd/cmd/paddock-shim
# grpcnotrace leaves golang.org/x/net/trace (and html/template) out of
# grpc: its debug pages are never served, and the 3.7 MB it adds to each
# binary are resident from the first fault (the page cache maps whole
# large folios), so agentctl's memory is mostly its size. bench/internal/rig
# builds the same way.
TAGS    := grpcnotrace
FUZZTIME ?= 60s
# make bench's flags per benchmark, chosen so that the whole of it (make
# deps and the builds included) stays under 15 minutes on the 2-CPU dev VM
# while every median has enough runs behind it; e.g. PROXYBENCH='-d 3s
# -rounds 1' for a quick look. bench/syscall takes about 1.5 minutes,
# bench/proxy about 4.5, bench/credential about 1, bench/launch about 1.5,
# bench/connect 30 s and bench/events about 2.5; the last three need root
# and are skipped without.
SYSCALLBENCH ?= -rounds 150
PROXYBENCH   ?= -d 5s -rounds 4
CREDENTIALBENCH ?= -d 3s -rounds 4
CONNECTBENCH ?= -rounds 60 -diag-rounds 20
LAUNCHBENCH  ?= -n 150
EVENTSBENCH  ?= -rounds 4 -d 2s
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: help deps build test lint generate vmlinux check-generated bench run fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

deps: ## install what is missing (Debian packages, Go modules)
	@tools/install-deps

build: ## build every binary into bin/
	$(GO) build -tags $(TAGS) -o $(BIN)/ $(CMDS)
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -o $(BIN)/ $(SHIM)

test: ## run every test; as root with CI=true, privileged tests never skip
	$(GO) test -count=1 ./...

lint: ## gofmt, go vet, canonical policy format
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run ./compiler/cmd/policyc fmt --check policies/*.hcl

generate: ## regenerate generated Go code (bpf2go, protobuf as they arrive)
	$(GO) generate ./...

vmlinux: ## regenerate vmlinux.h from this kernel's BTF
	tools/gen-vmlinux

check-generated: ## fail if a committed generated file is stale
	tools/check-generated

bench: deps build ## install what is missing, run every benchmark, write bench/results/ (REPORT.md, plots, JSON)
	@mkdir -p bench/results
	$(GO) run ./bench/syscall -o bench/results/syscall.md $(SYSCALLBENCH)
	$(GO) run ./bench/pathlen -o bench/results/pathlen.md
	$(GO) run ./bench/proxy -o bench/results/proxy.md $(PROXYBENCH)
	$(GO) run ./bench/credential -o bench/results/credential.md $(CREDENTIALBENCH)
	@if [ "$$(id -u)" -eq 0 ]; then \
	  set -e; \
	  echo '$(GO) run ./bench/launch -o bench/results/launch.md $(LAUNCHBENCH)'; \
	  $(GO) run ./bench/launch -o bench/results/launch.md $(LAUNCHBENCH); \
	  echo '$(GO) run ./bench/connect -o bench/results/connect.md $(CONNECTBENCH)'; \
	  $(GO) run ./bench/connect -o bench/results/connect.md $(CONNECTBENCH); \
	  echo '$(GO) run ./bench/events -o bench/results/events.md $(EVENTSBENCH)'; \
	  $(GO) run ./bench/events -o bench/results/events.md $(EVENTSBENCH); \
	  echo '$(GO) run ./bench/report'; \
	  $(GO) run ./bench/report; \
	else \
	  echo "bench/launch, bench/connect and bench/events need root (agentd, cgroups, BPF): skipped"; \
	  echo '$(GO) run ./bench/report -skipped launch,connect,events'; \
	  $(GO) run ./bench/report -skipped launch,connect,events -reason "they need root (agentd, cgroups, BPF)"; \
	fi

run: deps build ## the main job: a shell inside the embedded default policy's fence (this directory is the workspace)
	@tools/run-default

fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; \
	done

clean: ## remove build output
	rm -rf $(BIN)
