# kubeaccess: "make demo" shows the onboarding scenario against a real local
# control plane; "make test" runs every test. Both build what they need.
SHELL       := bash
GO          ?= go
BIN_DIR     := bin
CLUSTER_DIR := .cluster
GOBIN       ?= $(shell $(GO) env GOPATH)/bin

.PHONY: build install install-plugin control-plane browser vet test test-compat fuzz demo bench bench-can bench-engine bench-apply bench-portal bench-controller bench-renewal bench-trace dist dist-test cluster cluster-down clean

## build: build bin/kubeaccess
build:
	$(GO) build -o $(BIN_DIR)/kubeaccess ./cmd/kubeaccess

## install: go install kubeaccess into $(GOBIN)
install:
	$(GO) install ./cmd/kubeaccess

## install-plugin: install as kubectl-access, so "kubectl access ..." works
install-plugin: build
	install -m 0755 $(BIN_DIR)/kubeaccess $(GOBIN)/kubectl-access

## control-plane: build (or find cached) etcd, kube-apiserver, kube-controller-manager, kubectl
control-plane:
	@hack/control-plane-bins.sh >/dev/null

## vet: gofmt and go vet
vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [[ -n "$$unformatted" ]]; then echo "not gofmt-formatted: $$unformatted"; exit 1; fi
	$(GO) vet ./...

## test: vet, unit tests and real-cluster tests; fails if a control-plane process is left running
test: vet control-plane browser
	hack/test.sh

## browser: Debian's chromium, for the portal's browser tests, installed when missing
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## test-compat: the e2e suite against the oldest supported release (Kubernetes v1.31, tools/v1.31); not part of make test
test-compat:
	KUBEACCESS_TOOLS=tools/v1.31 KUBEACCESS_TEST_PACKAGES=./test/e2e/ hack/test.sh

## fuzz: run each parser's fuzz test for FUZZTIME (make test runs only their seeds)
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzDecode:./internal/inspect FuzzParseRequest:./internal/pki FuzzParseToken:./internal/credential
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t%%:*}\$$" -fuzztime $(FUZZTIME) "$${t#*:}" || exit 1; \
	done

## demo: start a real local control plane and run the onboarding scenario against it
demo:
	hack/demo.sh

## bench: time kubeaccess grant against the manual openssl + kubectl way
bench:
	bench/grant.sh

## bench-can: time kubeaccess can against one access review per cell, and who-can on 2,000 bindings
bench-can:
	bench/can.sh

## bench-engine: 200 certificates concurrently through the engine against 200 sequential grant runs
bench-engine:
	bench/engine.sh

## bench-apply: a team file of 1,000 users applied from nothing (GNU time, installed when missing)
bench-apply:
	@command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
	bench/apply.sh

## bench-trace: kubeaccess trace over a generated 1 GB audit log against jq doing the same join (jq, bc and GNU time installed when missing)
bench-trace:
	@command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc; }
	bench/trace.sh

## bench-portal: 50 invitations redeemed at once against one kubeaccess serve
bench-portal:
	bench/portal.sh

## bench-controller: the controller on 50 TeamAccess objects of 5,000 members and 20,000 bindings, and 5,000 users invited
bench-controller:
	bench/controller.sh

## bench-renewal: 1,000 renewing credentials' renewals answered by the controller, spread over a minute and all at once, against kubectl certificate approve
bench-renewal:
	bench/renewal.sh

## dist: cross-compile release archives, SHA256SUMS and the krew manifest into dist/
dist:
	hack/dist.sh

## dist-test: build dist/, validate the manifest with krew and install the plugin from it
dist-test:
	hack/dist-test.sh

## cluster: start the real local control plane in $(CLUSTER_DIR) for trying things
cluster: control-plane
	@KUBEACCESS_CONTROL_PLANE_BIN=$$(hack/control-plane-bins.sh) $(GO) run ./hack/localcluster up --dir $(CLUSTER_DIR)

## cluster-down: stop the cluster started by "make cluster"
cluster-down:
	@$(GO) run ./hack/localcluster down --dir $(CLUSTER_DIR)

clean:
	rm -rf $(BIN_DIR) dist
