# Redlane developer commands. `make help` lists them.
GO      ?= go
BENCHFLAGS ?= -duration 5s -rounds 7
CHATFLAGS ?= -clients 1000 -rate 100 -duration 20s
CENTRIFUGO_MODE ?= latency
CHAOSFLAGS ?=
COHERENCEFLAGS ?=
FUZZTIME ?= 30s
FUZZPARALLEL ?= 1
# Every fuzz target, as package:Target (TestFuzzTargetsListed keeps the list whole).
FUZZ_TARGETS := ./internal/web:FuzzCheckJSON ./internal/web:FuzzDecode \
	./internal/config:FuzzParse ./internal/config:FuzzEnv ./internal/realtime:FuzzParseStreamID \
	./cmd/redlane:FuzzJSONBodies ./cmd/redlane:FuzzQueryParams ./cmd/redlane:FuzzCacheClearPattern ./cmd/redlane:FuzzChatFrames
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: help run build test lint vet fmt-check vulncheck fuzz k8s-tools test-k8s image test-image chart-schema sync-dashboards dashboards \
	bench bench-sessions bench-coherence bench-ratelimit bench-chat bench-centrifugo chaos chaos-short

help: ## list targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## run the service with embedded Redis (no setup needed)
	$(GO) run ./cmd/redlane serve

build: ## build bin/redlane
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/redlane ./cmd/redlane

dashboards: ## regenerate dashboards/*.json from the Go code in internal/dashboards
	$(GO) generate ./internal/dashboards

lint: vet fmt-check vulncheck ## static checks: go vet, gofmt, govulncheck, and bash -n of the shell scripts
	@for f in $$(git ls-files '*.sh' .ci/run 2>/dev/null); do bash -n "$$f" || exit 1; done

vet: ## go vet
	$(GO) vet ./...

fmt-check: ## fail if any Go file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vulncheck: ## govulncheck ./... (pinned govulncheck and vulnerability database, installed into a cache by tools/govulncheck/run.sh)
	GO=$(GO) bash tools/govulncheck/run.sh

test: lint ## the whole suite: lint, then every test with -race against real servers, then the fault suite's short profile on its own
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/internal/chaos$$')
	$(GO) test -race -count=1 -timeout 15m ./internal/chaos

fuzz: ## fuzz every target for FUZZTIME each (default 30s, FUZZPARALLEL workers); make test runs only their seed corpora
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPARALLEL) || exit 1; done

k8s-tools: ## build the pinned Kubernetes toolchain for test/k8s (once per machine, about 30 min cold on 2 cores)
	bash test/k8s/tools.sh

test-k8s: ## only the Kubernetes packaging tests (chart, kustomize, Dockerfile, Tiltfile)
	$(GO) test -count=1 -timeout 20m -v ./test/k8s

image: ## build the Dockerfile's runtime and dev targets with podman, from base images assembled here (tools/image)
	bash tools/image/build.sh

test-image: image ## run the built image and the chart's pod specs in podman (test/image)
	$(GO) test -count=1 -timeout 20m -v ./test/image

chart-schema: ## regenerate charts/redlane/values.schema.json (after changing values.yaml or config types)
	$(GO) run ./tools/chartschema -chart charts/redlane

sync-dashboards: ## copy dashboards/*.json and the alert rules into the chart (Helm cannot read outside it)
	mkdir -p charts/redlane/dashboards
	rm -f charts/redlane/dashboards/*.json
	if ls dashboards/*.json >/dev/null 2>&1; then cp dashboards/*.json charts/redlane/dashboards/; fi
	mkdir -p charts/redlane/alerts
	cp dashboards/alerts/redlane.rules.yaml charts/redlane/alerts/

bench: ## cache-hit benchmark: redlane (near cache on/off) vs net/http and one-GET baselines (needs wrk, redis-server)
	$(GO) run ./tools/bench/cachebench $(BENCHFLAGS)

bench-sessions: ## session lookup throughput beside /health and /healthz (needs wrk, redis-server)
	tools/bench/sessions.sh

bench-coherence: ## time until a write or logout on one instance is served by another (two instances, near cache and sessions tracked), also while CLIENT KILL cuts tracking (needs redis-server)
	$(GO) run ./tools/bench/coherence $(COHERENCEFLAGS)

bench-ratelimit: ## rate-limited route vs an unlimited one, same server (needs wrk, redis-server)
	tools/bench/ratelimit.sh

bench-chat: ## chat fan-out load over two instances with redlane-load (CHATFLAGS passes its flags)
	tools/bench/chat.sh $(CHATFLAGS)

bench-centrifugo: ## chat against Centrifugo v6 in one run, interleaved rounds (CENTRIFUGO_MODE=latency|memory|saturated; ROUNDS, BASELINE=rev; installs Centrifugo on demand; needs redis-server)
	tools/bench/centrifugo.sh $(CENTRIFUGO_MODE)

chaos: ## fault suite, every scenario at full size (about 6 min; needs redis-server, redis-cli, PostgreSQL); CHAOSFLAGS='-run cluster -v'
	$(GO) run ./tools/chaos -profile long $(CHAOSFLAGS)

chaos-short: ## fault suite, the scenarios marked short, at a small size (about a minute; also part of make test)
	$(GO) run ./tools/chaos -profile short $(CHAOSFLAGS)
