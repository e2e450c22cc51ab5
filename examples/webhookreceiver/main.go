// Command webhookreceiver receives Usher's webhook deliveries: it checks
// each one's Usher-Signature, skips deliveries it has taken already (a
// delivery may come more than once: Usher delivers at least once), and
// prints the events, one line each. It uses the standard library only, so
// that it can be copied into a program of your own.
//
// Try it against a dev server:
//
//	echo s3cret > hook.secret
//	go run ./examples/webhookreceiver -listen 127.0.0.1:9000 -secret-file hook.secret &
//	usher server --dev &
//	usher webhooks add http://127.0.0.1:9000/ --secret-file hook.secret
//
// then check out a seat, and watch. See docs/webhooks.md.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "listen on `ADDR`")
	secretFile := flag.String("secret-file", "", "the webhook's secret, in `FILE` (required)")
	tolerance := flag.Duration("tolerance", 5*time.Minute, "refuse a signature older (or newer) than this: a replay")
	flag.Parse()
	data, err := os.ReadFile(*secretFile)
	if err != nil {
		log.Fatalf("read the secret: %v (give -secret-file)", err)
	}
	r := &Receiver{Secret: strings.TrimSpace(string(data)), Tolerance: *tolerance, Out: os.Stdout, Now: time.Now}
	srv := &http.Server{Addr: *listen, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("receiving Usher webhooks on http://%s/", *listen)
	log.Fatal(srv.ListenAndServe())
}

// Receiver is the HTTP handler that takes deliveries.
type Receiver struct {
	Secret    string
	Tolerance time.Duration
	Out       io.Writer
	Now       func() time.Time

	mu   sync.Mutex
	seen map[string]bool // delivery IDs taken
	ids  []string        // the same, oldest first, to forget the oldest
}

// maxSeen is how many delivery IDs the receiver remembers.
const maxSeen = 10000

// Delivery is the JSON body of a delivery.
type Delivery struct {
	Delivery string  `json:"delivery"`
	Webhook  string  `json:"webhook"`
	Mode     string  `json:"mode"`
	Events   []Event `json:"events"`
}

// Event is one of Usher's events (see docs/events.md for every field).
type Event struct {
	ID        int64     `json:"id"`
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	Feature   string    `json:"feature,omitempty"`
	LeaseID   string    `json:"lease_id,omitempty"`
	LicenseID string    `json:"license_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Client    struct {
		ID   string `json:"id,omitempty"`
		User string `json:"user,omitempty"`
		Host string `json:"host,omitempty"`
	} `json:"client"`
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		http.Error(w, "read the body", http.StatusBadRequest)
		return
	}
	// Check the signature over the raw body, before decoding it.
	if err := Verify(r.Secret, req.Header.Get("Usher-Signature"), body, r.Now(), r.Tolerance); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var d Delivery
	if err := json.Unmarshal(body, &d); err != nil {
		http.Error(w, "not a delivery: "+err.Error(), http.StatusBadRequest)
		return
	}
	if r.taken(d.Delivery) {
		w.WriteHeader(http.StatusOK) // taken before: say so again, and do nothing
		return
	}
	for _, e := range d.Events {
		fmt.Fprintf(r.Out, "%d %s %s feature=%s lease=%s license=%s user=%s host=%s %s\n", e.ID, e.Time.Format(time.RFC3339),
			e.Type, e.Feature, e.LeaseID, e.LicenseID, e.Client.User, e.Client.Host, e.Reason)
	}
	w.WriteHeader(http.StatusNoContent)
}

// taken records a delivery ID, and reports whether it was taken before.
func (r *Receiver) taken(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[id] {
		return true
	}
	if r.seen == nil {
		r.seen = make(map[string]bool)
	}
	r.seen[id], r.ids = true, append(r.ids, id)
	if len(r.ids) > maxSeen {
		delete(r.seen, r.ids[0])
		r.ids = r.ids[1:]
	}
	return false
}

// Verify checks an Usher-Signature header, "t=UNIX,v1=HEX": HEX must be
// the HMAC-SHA256, keyed with the secret, of UNIX, a dot and the body, and
// UNIX within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	got, herr := hex.DecodeString(sig)
	if err != nil || herr != nil || sig == "" {
		return errors.New("no valid Usher-Signature header")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("the signature does not match")
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("the signature is %v old: a replay?", age.Round(time.Second))
	}
	return nil
}
