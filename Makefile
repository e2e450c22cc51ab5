# Builds what `go build` alone does not. Go's own tools do the rest:
# go build ./cmd/usher, go test -race ./...

GO ?= go
DIST ?= dist

.PHONY: libusher
# libusher: the C library of Usher, shared and static, with its C and C++
# headers, in $(DIST)/. See docs/sdk-c.md.
libusher:
	mkdir -p $(DIST)
	$(GO) build -buildmode=c-shared -o $(DIST)/libusher.so ./capi
	$(GO) build -buildmode=c-archive -o $(DIST)/libusher.a ./capi
	rm -f $(DIST)/libusher.h
	cp capi/usher.h capi/usher.hpp $(DIST)/
