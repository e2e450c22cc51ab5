package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/client"
)

// clientOptions is the options_json of usher_client_new.
type clientOptions struct {
	ClientID       string   `json:"client_id"`
	User           string   `json:"user"`
	Host           string   `json:"host"`
	Token          string   `json:"token"`
	TLSFingerprint string   `json:"tls_fingerprint"`
	VendorKeys     []string `json:"vendor_keys"`
	LicenseeSecret string   `json:"licensee_secret"`
}

// checkoutOptions is the checkout_json of usher_checkout.
type checkoutOptions struct {
	Wait  string `json:"wait"`
	Count *int   `json:"count"`
}

// parseOptions reads options_json into SDK options; "" is none.
func parseOptions(text string) (client.Options, error) {
	var o clientOptions
	if err := decodeStrict(text, &o); err != nil {
		return client.Options{}, usher.Errorf(usher.EInvalid, "options_json: %v; the keys are client_id, user, host, token, tls_fingerprint, vendor_keys and licensee_secret", err)
	}
	opts := client.Options{ClientID: o.ClientID, User: o.User, Host: o.Host, Token: o.Token, TLSFingerprint: o.TLSFingerprint}
	if err := applyTrust(&opts, o); err != nil {
		return client.Options{}, err
	}
	return opts, nil
}

// parseCheckout reads checkout_json into SDK checkout options; "" is none.
func parseCheckout(text string) ([]client.CheckoutOption, error) {
	var o checkoutOptions
	if err := decodeStrict(text, &o); err != nil {
		return nil, usher.Errorf(usher.EInvalid, "checkout_json: %v; the keys are wait (as \"2m\") and count", err)
	}
	var opts []client.CheckoutOption
	if o.Wait != "" {
		d, err := time.ParseDuration(o.Wait)
		if err != nil || d < 0 {
			return nil, usher.Errorf(usher.EInvalid, "checkout_json: wait %q is not a duration: write it as \"30s\" or \"2m\"", o.Wait)
		}
		opts = append(opts, client.Wait(d))
	}
	if o.Count != nil {
		c, err := countOption(*o.Count)
		if err != nil {
			return nil, err
		}
		opts = append(opts, c...)
	}
	return opts, nil
}

// decodeStrict decodes one JSON object, refusing unknown keys.
func decodeStrict(text string, v any) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%s must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("write one JSON object, with nothing after it")
	}
	return nil
}

// jsonKind names a Go kind as JSON does.
func jsonKind(kind string) string {
	switch kind {
	case "slice":
		return "array of strings"
	case "int", "ptr":
		return "number"
	}
	return kind
}
