# Redlane developer commands. `make help` lists them.
GO      ?= go
BENCHFLAGS ?= -duration 5s -rounds 7
CHAOSFLAGS ?=
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: help run build test vet fmt-check lint k8s-tools test-k8s chart-schema sync-dashboards dashboards bench chaos chaos-short

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## run the service with embedded Redis (no setup needed)
	$(GO) run ./cmd/redlane serve

build: ## build bin/redlane
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/redlane ./cmd/redlane

dashboards: ## regenerate dashboards/*.json from the Go code in internal/dashboards
	$(GO) generate ./internal/dashboards

vet: ## go vet
	$(GO) vet ./...

fmt-check: ## fail if any Go file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

test: vet fmt-check ## the whole suite: vet, gofmt, and every test with -race against real servers
	$(GO) test -race -count=1 -timeout 20m ./...

k8s-tools: ## build the pinned Kubernetes toolchain for test/k8s (once per machine, 10-30 min cold)
	bash test/k8s/tools.sh

test-k8s: ## only the Kubernetes packaging tests (chart, kustomize, Dockerfile, Tiltfile)
	$(GO) test -count=1 -timeout 20m -v ./test/k8s

chart-schema: ## regenerate charts/redlane/values.schema.json (after changing values.yaml or config types)
	$(GO) generate ./test/k8s

sync-dashboards: ## copy dashboards/*.json and the alert rules into the chart (Helm cannot read outside it)
	mkdir -p charts/redlane/dashboards
	rm -f charts/redlane/dashboards/*.json
	if ls dashboards/*.json >/dev/null 2>&1; then cp dashboards/*.json charts/redlane/dashboards/; fi
	mkdir -p charts/redlane/alerts
	cp dashboards/alerts/redlane.rules.yaml charts/redlane/alerts/

bench: ## cache-hit benchmark: redlane (near cache on/off) vs net/http and one-GET baselines (needs wrk, redis-server)
	$(GO) run ./test/cachebench $(BENCHFLAGS)

chaos: ## fault suite, every scenario at full size (about 6 min; needs redis-server, redis-cli, PostgreSQL); CHAOSFLAGS='-run cluster -v'
	$(GO) run ./cmd/redlane-chaos -profile long $(CHAOSFLAGS)

chaos-short: ## fault suite, the scenarios that pass today at a small size (about a minute; also part of make test)
	$(GO) run ./cmd/redlane-chaos -profile short $(CHAOSFLAGS)
