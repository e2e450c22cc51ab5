// usher.hpp: a C++17 RAII wrapper of libusher (usher.h).
//
// usher::client and usher::lease own their C objects and free them when
// they go out of scope: a lease that goes out of scope gives its seat
// back. Failures throw usher::error, which carries the API's error code.
// Both types can be moved, not copied. See docs/sdk-c.md.
#ifndef USHER_HPP
#define USHER_HPP

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "usher.h"

namespace usher {

// error is a failure of libusher: code() is the stable API error code
// ("no_seats_available", "unavailable", ...), what() the message.
class error : public std::runtime_error {
public:
    error(std::string code, const std::string &message)
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string &code() const noexcept { return code_; }

private:
    std::string code_;
};

namespace detail {

// error_holder frees an usher_error however the scope ends.
struct error_holder {
    usher_error e{nullptr, nullptr};
    error_holder() = default;
    error_holder(const error_holder &) = delete;
    error_holder &operator=(const error_holder &) = delete;
    ~error_holder() { usher_error_free(&e); }
    error to_exception() const {
        return error(e.code ? e.code : "internal", e.message ? e.message : "libusher failed without a message");
    }
};

inline const char *c_str_or_null(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

} // namespace detail

// lease is a held seat. It is released when it goes out of scope.
class lease {
public:
    using lost_handler = std::function<void(const error &)>;

    lease(lease &&other) noexcept
        : l_(std::exchange(other.l_, nullptr)), on_lost_(std::move(other.on_lost_)) {}
    lease &operator=(lease &&other) noexcept {
        if (this != &other) {
            reset();
            l_ = std::exchange(other.l_, nullptr);
            on_lost_ = std::move(other.on_lost_);
        }
        return *this;
    }
    lease(const lease &) = delete;
    lease &operator=(const lease &) = delete;
    ~lease() { reset(); }

    // alive reports whether the seat is still held.
    bool alive() const { return l_ != nullptr && usher_lease_alive(l_) != 0; }

    // on_lost sets the handler called, on a library thread, when the seat
    // is lost for good. It must return quickly and not destroy this lease.
    void on_lost(lost_handler handler) {
        on_lost_ = std::make_unique<lost_handler>(std::move(handler));
        usher_lease_on_lost(l_, &lease::call_lost, on_lost_.get());
    }

    // release gives the seat back now; it throws usher::error if the
    // server no longer had it or none answered.
    void release() {
        detail::error_holder err;
        if (usher_release(l_, &err.e) != 0) {
            throw err.to_exception();
        }
    }

private:
    friend class client;
    explicit lease(usher_lease *l) : l_(l) {}

    void reset() noexcept {
        if (l_ != nullptr) {
            usher_lease_free(l_); // stops the callback before on_lost_ goes
            l_ = nullptr;
        }
        on_lost_.reset();
    }

    static void call_lost(void *ctx, const usher_error *err) {
        try {
            (*static_cast<lost_handler *>(ctx))(error(err->code, err->message));
        } catch (...) {
            // An exception must not cross into the library's thread.
        }
    }

    usher_lease *l_;
    std::unique_ptr<lost_handler> on_lost_;
};

// client checks out leases. It is safe to share between threads; closing
// it (when it goes out of scope) releases every seat it holds.
class client {
public:
    // servers as in USHER_SERVER ("" reads the environment); options as
    // the options_json of usher_client_new.
    explicit client(const std::string &servers = "", const std::string &options_json = "") {
        detail::error_holder err;
        c_ = usher_client_new(detail::c_str_or_null(servers), detail::c_str_or_null(options_json), &err.e);
        if (c_ == nullptr) {
            throw err.to_exception();
        }
    }
    client(client &&other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
    client &operator=(client &&other) noexcept {
        if (this != &other) {
            usher_client_close(c_);
            c_ = std::exchange(other.c_, nullptr);
        }
        return *this;
    }
    client(const client &) = delete;
    client &operator=(const client &) = delete;
    ~client() { usher_client_close(c_); }

    // checkout checks out a seat of feature; checkout_json as in
    // usher_checkout ({"wait":"2m"}). It throws usher::error.
    lease checkout(const std::string &feature, const std::string &checkout_json = "") {
        detail::error_holder err;
        usher_lease *l = usher_checkout(c_, feature.c_str(), detail::c_str_or_null(checkout_json), &err.e);
        if (l == nullptr) {
            throw err.to_exception();
        }
        return lease(l);
    }

private:
    usher_client *c_;
};

} // namespace usher

#endif // USHER_HPP
