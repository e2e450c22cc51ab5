package usher

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Release receipt framing. A receipt is a short text a server signs with
// its identity key when it gives up a license (usher license release),
// which the vendor checks before issuing the license again for another
// server (usher vendor rehost). See docs/trust.md.
const (
	receiptBegin   = "-----BEGIN USHER RELEASE RECEIPT-----"
	receiptEnd     = "-----END USHER RELEASE RECEIPT-----"
	receiptFormat  = "1"
	receiptContext = "usher-release-receipt\x00" // domain of the signature: a receipt signature signs nothing else
)

// Receipt says that a server released a license: it removed it and will
// not load it again.
type Receipt struct {
	LicenseID string
	// ServerKey is the identity key of the server that released the
	// license, which signed the receipt.
	ServerKey ed25519.PublicKey
	// Bound says whether the license was bound (see License.Bound): only
	// the receipt of a bound license proves that its seats are gone.
	Bound      bool
	ReleasedAt time.Time
}

// body returns the signed lines of the receipt.
func (r *Receipt) body() []byte {
	bound := "no"
	if r.Bound {
		bound = "yes"
	}
	return fmt.Appendf(nil, "format: %s\nlicense: %s\nserver-key: %s\nbound: %s\nreleased: %s\n",
		receiptFormat, r.LicenseID, FormatServerKey(r.ServerKey), bound, formatTime(r.ReleasedAt))
}

// SignReceipt returns the text of r signed by the server's identity key,
// whose public half must be r.ServerKey.
func SignReceipt(r *Receipt, key crypto.Signer) ([]byte, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || !pub.Equal(r.ServerKey) {
		return nil, fmt.Errorf("sign receipt: the signing key is not the server key the receipt names")
	}
	body := r.body()
	sig, err := key.Sign(rand.Reader, append([]byte(receiptContext), body...), crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("sign receipt: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(receiptBegin + "\n")
	b.Write(body)
	fmt.Fprintf(&b, "signature: %s\n", base64.StdEncoding.EncodeToString(sig))
	b.WriteString(receiptEnd + "\n")
	return b.Bytes(), nil
}

// ParseReceipt reads a receipt written by SignReceipt and checks that the
// server key it names signed it. It does not say whether that server was
// the one the license was bound to: see Receipt.Check.
//
// Errors: EInvalid.
func ParseReceipt(text []byte) (*Receipt, error) {
	s := strings.ReplaceAll(string(text), "\r\n", "\n")
	start := strings.Index(s, receiptBegin+"\n")
	end := strings.Index(s, receiptEnd)
	if start < 0 || end < start {
		return nil, Errorf(EInvalid, "not a release receipt: no %s ... %s block; give the file usher license release wrote", receiptBegin, receiptEnd)
	}
	lines := strings.Split(strings.TrimSuffix(s[start+len(receiptBegin)+1:end], "\n"), "\n")
	if len(lines) != 6 {
		return nil, Errorf(EInvalid, "release receipt has %d lines, want 6: give the receipt exactly as usher license release printed it", len(lines))
	}
	r, err := parseReceiptFields(lines)
	if err != nil {
		return nil, err
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[5], "signature: "))
	if err != nil || !strings.HasPrefix(lines[5], "signature: ") ||
		!ed25519.Verify(r.ServerKey, append([]byte(receiptContext), r.body()...), sig) {
		return nil, Errorf(EInvalid, "release receipt signature does not verify: the receipt was changed or forged; ask for the receipt exactly as usher license release printed it")
	}
	return r, nil
}

// parseReceiptFields reads the five signed lines, strictly in order.
func parseReceiptFields(lines []string) (*Receipt, error) {
	want := []string{"format", "license", "server-key", "bound", "released"}
	vals := make([]string, len(want))
	for i, key := range want {
		k, v, ok := strings.Cut(lines[i], ": ")
		if !ok || k != key {
			return nil, Errorf(EInvalid, "release receipt line %d is %q, want %q: give the receipt exactly as usher license release printed it", i+1, lines[i], key+": ...")
		}
		vals[i] = v
	}
	if vals[0] != receiptFormat {
		return nil, Errorf(EInvalid, "release receipt format %q is not supported: upgrade Usher to read it", vals[0])
	}
	key, err := ParseServerKey(vals[2])
	if err != nil {
		return nil, err
	}
	at, err := time.Parse(time.RFC3339, vals[4])
	if err != nil || (vals[3] != "yes" && vals[3] != "no") || vals[1] == "" {
		return nil, Errorf(EInvalid, "release receipt is malformed: give the receipt exactly as usher license release printed it")
	}
	return &Receipt{LicenseID: vals[1], ServerKey: key, Bound: vals[3] == "yes", ReleasedAt: at}, nil
}

// Check returns nil when r releases lic: the same license, bound to the
// server that signed the receipt. lic must be verified already.
//
// Errors: EInvalid.
func (r *Receipt) Check(lic *License) error {
	if lic.ID != r.LicenseID {
		return Errorf(EInvalid, "the receipt releases license %s, not %s: give the receipt of that license", r.LicenseID, lic.ID)
	}
	if lic.BindServer == nil {
		return Errorf(EInvalid, "license %s is not bound to a server: any server can load a copy of it, so a receipt proves nothing; rehost only licenses issued with --bind-server", lic.ID)
	}
	if !lic.BindServer.Equal(r.ServerKey) {
		return Errorf(EInvalid, "the receipt is signed by server %s, but license %s is bound to server %s: only the server a license is bound to can release it",
			FormatServerKey(r.ServerKey), lic.ID, FormatServerKey(lic.BindServer))
	}
	return nil
}
