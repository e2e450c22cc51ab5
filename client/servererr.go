package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	usher "github.com/usher-lm/usher"
)

// untrustedError is a server that answered with a certificate the client
// does not trust: it runs, so "check that the server runs" would mislead.
type untrustedError struct{ err *usher.Error }

func (e untrustedError) Error() string { return e.err.Error() }

func (e untrustedError) Unwrap() error { return e.err }

// untrusted reports whether err is, or every error it joins is, an
// untrusted certificate.
func untrusted(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !untrusted(e) {
				return false
			}
		}
		return len(j.Unwrap()) > 0
	}
	var u untrustedError
	return errors.As(err, &u)
}

// certificateError reports whether a transport error is the server's
// certificate failing verification, rather than the server not answering.
func certificateError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify)
}

// serverErrors is every server's error of one round, each naming its
// server, so a failover error does not hide all but the last.
type serverErrors []error

func (e serverErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e serverErrors) Unwrap() []error { return e }

// joinServerErrors returns the one error of a round, or all of them.
func joinServerErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return serverErrors(errs)
}
