package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/policyfile"
	"github.com/usher-lm/usher/internal/wire"
)

// The policy in force is kept with the runtime settings, under keys no
// configuration key has, so that it outlives a restart and every node of
// a cluster applies what another stored.
const (
	settingPolicy         = "policy"             // the TOML text
	settingPolicySource   = "policy_source"      // wire.PolicySourceFile or wire.PolicySourceAPI
	settingPolicyFileHash = "policy_file_sha256" // the policy file as last read
)

// isPolicySetting reports whether a stored setting belongs to the policy.
func isPolicySetting(key string) bool {
	return key == settingPolicy || key == settingPolicySource || key == settingPolicyFileHash
}

var _ httpapi.PolicyAdmin = (*Daemon)(nil)

// policyState is the policy in force on this node.
type policyState struct {
	mu  sync.Mutex // serializes changes
	cur atomic.Pointer[policyInForce]
}

// policyInForce is a policy and where it came from.
type policyInForce struct {
	policy *usher.Policy // nil: no policy
	text   string
	source string
}

var noPolicy = &policyInForce{source: wire.PolicySourceNone}

// current returns the policy in force.
func (s *policyState) current() *policyInForce {
	if p := s.cur.Load(); p != nil {
		return p
	}
	return noPolicy
}

// startPolicy puts in force the policy the stored settings and the policy
// file give (see choosePolicy). A policy file that does not parse keeps
// the server from starting.
func (d *Daemon) startPolicy(ctx context.Context) error {
	d.pol.mu.Lock()
	defer d.pol.mu.Unlock()
	_, err := d.loadPolicyLocked(ctx, "at start")
	return err
}

// reloadPolicy reads the policy file again, for reload and SIGHUP, and
// returns what changed as a reload reports it: one change of key "policy"
// per rule. Errors: EInvalid when the file does not parse; the old policy
// stays.
func (d *Daemon) reloadPolicy(ctx context.Context) ([]wire.Change, error) {
	d.pol.mu.Lock()
	defer d.pol.mu.Unlock()
	diff, err := d.loadPolicyLocked(ctx, "reloaded from the policy file")
	if err != nil {
		return nil, err
	}
	var out []wire.Change
	for _, r := range diff.Added {
		out = append(out, wire.Change{Key: "policy", Old: "-", New: r})
	}
	for _, r := range diff.Removed {
		out = append(out, wire.Change{Key: "policy", Old: r, New: "-"})
	}
	for _, r := range diff.Changed {
		old, nv, _ := strings.Cut(r, " -> ")
		out = append(out, wire.Change{Key: "policy", Old: old, New: nv})
	}
	return out, nil
}

func (d *Daemon) loadPolicyLocked(ctx context.Context, how string) (usher.PolicyDiff, error) {
	stored, err := d.rt.settings.Settings(ctx)
	if err != nil {
		return usher.PolicyDiff{}, err
	}
	next, set, err := d.choosePolicy(stored)
	if err != nil {
		return usher.PolicyDiff{}, err
	}
	if set != nil {
		if err := d.rt.settings.SetSettings(ctx, set, nil); err != nil {
			return usher.PolicyDiff{}, err
		}
	}
	return d.putPolicyLocked(next, how), nil
}

// choosePolicy decides which policy is in force: the policy file when its
// content differs from the last one read (it changed, or is new), else the
// stored policy, which PUT /v1/policy may have set since. It returns the
// settings to store, or nil when nothing changes in the store.
func (d *Daemon) choosePolicy(stored map[string]string) (*policyInForce, map[string]string, error) {
	if path := d.cfg.PolicyFile; path != "" {
		p, data, err := policyfile.Read(path)
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(data)
		if hash := hex.EncodeToString(sum[:]); stored[settingPolicyFileHash] != hash {
			return &policyInForce{policy: p, text: string(data), source: wire.PolicySourceFile},
				map[string]string{settingPolicy: string(data), settingPolicySource: wire.PolicySourceFile, settingPolicyFileHash: hash}, nil
		}
	}
	return d.storedPolicy(stored), nil, nil
}

// storedPolicy returns the policy in the stored settings. One that no
// longer parses is logged and left out.
func (d *Daemon) storedPolicy(stored map[string]string) *policyInForce {
	text, ok := stored[settingPolicy]
	if !ok {
		return noPolicy
	}
	p, err := policyfile.Parse([]byte(text))
	if err != nil {
		d.logger.Error("stored policy refused: no policy is in force; set one with usher policy set or policy_file", "err", err)
		return noPolicy
	}
	return &policyInForce{policy: p, text: text, source: stored[settingPolicySource]}
}

// putPolicyLocked puts next in force on this node and logs what changed.
func (d *Daemon) putPolicyLocked(next *policyInForce, how string) usher.PolicyDiff {
	old := d.pol.current()
	d.pol.cur.Store(next)
	if l := d.Ledger(); l != nil {
		l.SetPolicy(next.policy)
	}
	diff := usher.DiffPolicies(old.policy, next.policy)
	if old.text == next.text && old.source == next.source {
		return diff
	}
	d.logger.Info("policy in force", "how", how, "source", next.source, "rules", len(next.policy.Rules()),
		"added", len(diff.Added), "removed", len(diff.Removed), "changed", len(diff.Changed))
	for _, r := range diff.Added {
		d.logger.Info("policy rule added", "rule", r)
	}
	for _, r := range diff.Removed {
		d.logger.Info("policy rule removed", "rule", r)
	}
	for _, r := range diff.Changed {
		d.logger.Info("policy rule changed", "rule", r)
	}
	return diff
}

// Policy returns the policy in force.
func (d *Daemon) Policy() wire.PolicyResponse {
	cur := d.pol.current()
	rules := cur.policy.Rules()
	if rules == nil {
		rules = []string{}
	}
	return wire.PolicyResponse{Policy: cur.text, Source: cur.source, Rules: rules}
}

// SetPolicy parses text, stores it and puts it in force on every node: it
// stays until the policy file changes and is reloaded, or another is set.
// Errors: EInvalid with the line of what does not parse, or a store
// failure; the old policy then stays.
func (d *Daemon) SetPolicy(ctx context.Context, text []byte) (wire.PolicyResponse, error) {
	p, err := policyfile.Parse(text)
	if err != nil {
		return wire.PolicyResponse{}, usher.Errorf(usher.EInvalid, "policy:%s; the policy in force stays", usher.ErrorMessage(err))
	}
	d.pol.mu.Lock()
	defer d.pol.mu.Unlock()
	set := map[string]string{settingPolicy: string(text), settingPolicySource: wire.PolicySourceAPI}
	if err := d.rt.settings.SetSettings(ctx, set, nil); err != nil {
		return wire.PolicyResponse{}, err
	}
	diff := d.putPolicyLocked(&policyInForce{policy: p, text: string(text), source: wire.PolicySourceAPI}, "set through the API")
	d.events.Record(usher.Event{Type: eventlog.EventConfigChanged, Reason: "policy set through the API: " + summarize(diff)})
	out := d.Policy()
	out.Added, out.Removed = diff.Added, diff.Removed
	out.Removed = append(out.Removed, diff.Changed...)
	return out, nil
}

// summarize says in a line what a diff added, removed and changed.
func summarize(diff usher.PolicyDiff) string {
	var parts []string
	for _, g := range []struct {
		what  string
		rules []string
	}{{"added", diff.Added}, {"removed", diff.Removed}, {"changed", diff.Changed}} {
		if len(g.rules) > 0 {
			parts = append(parts, g.what+" "+strings.Join(g.rules, ", "))
		}
	}
	if len(parts) == 0 {
		return "no rule changed"
	}
	return strings.Join(parts, "; ")
}

// applySharedPolicy puts in force the policy another node stored, if it
// differs from this node's.
func (d *Daemon) applySharedPolicy(stored map[string]string) {
	d.pol.mu.Lock()
	defer d.pol.mu.Unlock()
	next := d.storedPolicy(stored)
	if cur := d.pol.current(); cur.text == next.text && cur.source == next.source {
		return
	}
	d.putPolicyLocked(next, "changed on another node")
}

// refreshPolicy reads the stored policy again when this node starts to
// decide: another node may have changed it while this one did not watch.
func (d *Daemon) refreshPolicy(ctx context.Context) *usher.Policy {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if stored, err := d.rt.settings.Settings(ctx); err != nil {
		d.logger.Warn("read the stored policy: keeping this node's", "err", err)
	} else if _, ok := stored[settingPolicy]; ok {
		d.applySharedPolicy(stored)
	}
	return d.pol.current().policy
}
