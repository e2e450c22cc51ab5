# Release artifacts: "make dist" builds every binary, the .deb and .rpm
# packages, the container image and SHA256SUMS into dist/. Two builds of
# one commit give the same binaries: paths are trimmed, the build id is
# empty and the build date is the commit's time.

VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell git log -1 --format=%cI 2>/dev/null)
DIST       ?= dist
GO         ?= go
NFPM       ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
PODMAN     ?= podman
IMAGE      ?= usher:$(VERSION)
# The package version: Debian and RPM want it to start with a digit.
PKG_VERSION = $(shell echo "$(VERSION)" | sed -e 's/^v//' -e 's/^\([^0-9]\)/0.0.0~\1/' -e 's/-/~/g')

LDFLAGS = -s -w -buildid= -X main.Version=$(VERSION) -X main.Commit=$(COMMIT) -X main.BuildDate=$(BUILD_DATE)
BUILD   = $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)"

# cgo builds can use hardware keys over PKCS#11; static builds cannot, and
# run on any Linux without a C library.
BINARIES = \
	$(DIST)/usher_$(VERSION)_linux_amd64_cgo \
	$(DIST)/usher_$(VERSION)_linux_amd64_static \
	$(DIST)/usher_$(VERSION)_linux_arm64_cgo \
	$(DIST)/usher_$(VERSION)_linux_arm64_static \
	$(DIST)/usher_$(VERSION)_windows_amd64.exe \
	$(DIST)/usher_$(VERSION)_darwin_arm64

PACKAGES = \
	$(DIST)/usher_$(PKG_VERSION)_amd64.deb \
	$(DIST)/usher_$(PKG_VERSION)_arm64.deb \
	$(DIST)/usher-$(PKG_VERSION).x86_64.rpm \
	$(DIST)/usher-$(PKG_VERSION).aarch64.rpm

.PHONY: dist binaries packages image checksums clean libusher

dist: binaries packages image libusher checksums

binaries: $(BINARIES)

packages: $(PACKAGES)

# The cgo builds are position independent with read-only relocations, as
# Debian's hardening expects of a dynamically linked program.
CGO_BUILD = $(GO) build -trimpath -buildvcs=false -buildmode=pie -ldflags "$(LDFLAGS) -linkmode=external -extldflags '-Wl,-z,relro -Wl,-z,now'"

$(DIST)/usher_$(VERSION)_linux_amd64_cgo:
	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 CC=$${CC_AMD64:-gcc} $(CGO_BUILD) -o $@ ./cmd/usher

$(DIST)/usher_$(VERSION)_linux_arm64_cgo:
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=$${CC_ARM64:-aarch64-linux-gnu-gcc} $(CGO_BUILD) -o $@ ./cmd/usher

$(DIST)/usher_$(VERSION)_linux_%_static:
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(BUILD) -o $@ ./cmd/usher

$(DIST)/usher_$(VERSION)_windows_amd64.exe:
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(BUILD) -o $@ ./cmd/usher

$(DIST)/usher_$(VERSION)_darwin_arm64:
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(BUILD) -o $@ ./cmd/usher

$(DIST)/usher.1.gz: packaging/usher.1
	mkdir -p $(DIST)
	gzip -n -9 -c $< > $@

# The configuration file the packages install: every key, commented, with
# its default; data and vendor_key set.
$(DIST)/usher.toml: $(DIST)/usher_$(VERSION)_linux_amd64_static
	$(DIST)/usher_$(VERSION)_linux_amd64_static server example-config \
		--set data=/var/lib/usher --set vendor_key=/etc/usher/vendor.pub > $@

$(DIST)/changelog.gz:
	mkdir -p $(DIST)
	printf 'usher (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Usher maintainers <maintainers@usher.invalid>  %s\n' \
		"$(PKG_VERSION)" "$(VERSION)" "$$(date -u -R -d '$(BUILD_DATE)' 2>/dev/null || date -u -R)" | gzip -n -9 > $@

# nfpm expands variables in some fields only: the paths of the contents are
# filled in here.
define package
	sed -e 's|$${USHER_ARCH}|$(2)|g' -e 's|$${USHER_VERSION}|$(PKG_VERSION)|g' -e 's|$${USHER_BINARY}|$(3)|g' \
		-e 's|$${USHER_CONFIG}|$(DIST)/usher.toml|g' -e 's|$${USHER_DIST}|$(DIST)|g' packaging/nfpm.yaml > $(DIST)/nfpm-$(1)-$(2).yaml
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
		$(NFPM) package --config $(DIST)/nfpm-$(1)-$(2).yaml --packager $(1) --target $@
	rm -f $(DIST)/nfpm-$(1)-$(2).yaml
endef

$(DIST)/usher_$(PKG_VERSION)_%.deb: $(DIST)/usher_$(VERSION)_linux_%_cgo $(DIST)/usher.toml $(DIST)/changelog.gz $(DIST)/usher.1.gz
	$(call package,deb,$*,$<)

$(DIST)/usher-$(PKG_VERSION).x86_64.rpm: $(DIST)/usher_$(VERSION)_linux_amd64_cgo $(DIST)/usher.toml $(DIST)/changelog.gz
	$(call package,rpm,amd64,$<)

$(DIST)/usher-$(PKG_VERSION).aarch64.rpm: $(DIST)/usher_$(VERSION)_linux_arm64_cgo $(DIST)/usher.toml $(DIST)/changelog.gz
	$(call package,rpm,arm64,$<)

# The container image: the static binary on an empty base, saved to dist/
# as an OCI archive (podman load -i ...). Also tagged :latest, with the
# seatholder example's image that deploy/compose.yaml runs as a client.
image: $(DIST)/usher_$(VERSION)_linux_amd64_static
	cp $< $(DIST)/usher-image-binary
	CGO_ENABLED=0 $(BUILD) -o $(DIST)/seatholder-image-binary ./examples/seatholder
	$(PODMAN) build --format docker --build-arg BINARY=$(DIST)/usher-image-binary -t $(IMAGE) -t usher:latest -f Containerfile .
	$(PODMAN) build --format docker --build-arg BINARY=$(DIST)/seatholder-image-binary -t usher-seatholder:latest -f examples/seatholder/Containerfile .
	rm -f $(DIST)/usher_$(VERSION)_image.tar
	$(PODMAN) save --format oci-archive -o $(DIST)/usher_$(VERSION)_image.tar $(IMAGE)
	rm -f $(DIST)/usher-image-binary $(DIST)/seatholder-image-binary

# libusher: the C library of Usher, shared and static, with its C and C++
# headers. See docs/sdk-c.md.
libusher:
	mkdir -p $(DIST)
	$(GO) build -buildmode=c-shared -o $(DIST)/libusher.so ./capi
	$(GO) build -buildmode=c-archive -o $(DIST)/libusher.a ./capi
	rm -f $(DIST)/libusher.h
	cp capi/usher.h capi/usher.hpp $(DIST)/

checksums:
	cd $(DIST) && rm -f SHA256SUMS && sha256sum $$(ls | grep -v '^SHA256SUMS$$' | grep -v '^usher.toml$$' | grep -v '^changelog.gz$$' | grep -v '^usher.1.gz$$') > SHA256SUMS

clean:
	rm -rf $(DIST)
