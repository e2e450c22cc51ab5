package daemon

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	usher "github.com/usher-lm/usher"
	"github.com/usher-lm/usher/internal/config"
	"github.com/usher-lm/usher/internal/eventlog"
	"github.com/usher-lm/usher/internal/httpapi"
	"github.com/usher-lm/usher/internal/metrics"
	"github.com/usher-lm/usher/internal/wire"
)

// SettingsStore keeps the settings changed at runtime, so that they
// survive a restart. Values are in the string form Config.Set takes.
type SettingsStore interface {
	Settings(ctx context.Context) (map[string]string, error)
	SetSettings(ctx context.Context, set map[string]string, unset []string) error
}

func isLive(key string) bool { return config.IsLive(key) }

var _ httpapi.Admin = (*Daemon)(nil)

// runtimeState is what administration changes while the daemon runs.
type runtimeState struct {
	mu        sync.Mutex
	fileCfg   Config            // the configuration as loaded, without runtime values
	overrides map[string]string // runtime values in force, as stored
	settings  SettingsStore

	now     func() time.Time
	started time.Time
	term    atomic.Pointer[termState] // while this node decides; atomic, as samplers start before it
	run     runnerState
	idle    atomic.Int64       // connection timeout, a time.Duration
	scan    chan time.Duration // new sweeper intervals

	stopOnce sync.Once
	restart  atomic.Bool   // set when the shutdown asked for is a restart
	stop     chan struct{} // closed when a shutdown is requested
	done     chan struct{} // closed when Close has finished
}

func (d *Daemon) initRuntime(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	d.rt.fileCfg, d.rt.now, d.rt.started = d.cfg, now, now()
	d.rt.scan = make(chan time.Duration, 1)
	d.rt.stop, d.rt.done = make(chan struct{}), make(chan struct{})
	d.rt.idle.Store(int64(d.cfg.ConnectionTimeout))
}

// features reads the ledger once it is open.
func (d *Daemon) features() []usher.FeatureStatus {
	if l := d.Ledger(); l != nil {
		return l.Features()
	}
	return nil
}

// observer is what every ledger of this daemon reports its events to.
func (d *Daemon) observer() usher.Observer { return fanout{d.metrics, d.events, announcer{d}} }

// fanout passes each event to several observers.
type fanout []usher.Observer

func (f fanout) Observe(ev usher.Event) {
	for _, o := range f {
		o.Observe(ev)
	}
}

// openObservability applies the stored runtime settings and opens the
// event log and the metrics.
func (d *Daemon) openObservability(ctx context.Context, settings SettingsStore) error {
	d.rt.settings = settings
	if err := d.loadOverrides(ctx); err != nil {
		return err
	}
	if d.opts.LogLevel != nil {
		d.opts.LogLevel.Set(SlogLevel(d.cfg.LogLevel))
	}
	d.rt.idle.Store(int64(d.cfg.ConnectionTimeout))
	evOpts := eventlog.Options{
		Backend: d.back.history, Now: d.rt.now, Logger: d.logger, Features: d.features,
		Retention: time.Duration(d.cfg.EventRetention), UsageRetention: time.Duration(d.cfg.UsageRetention),
	}
	if d.opts.Events != nil {
		d.opts.Events(&evOpts)
		if evOpts.Backend != d.back.history {
			d.back.history.Close() // replaced; the log closes only its own
		}
	}
	var err error
	d.events, err = eventlog.Open(evOpts)
	if err != nil {
		return err
	}
	d.metrics = metrics.New(metrics.Options{Features: d.features, Checkpoints: d.checkpoints, EventLog: d.events, Version: d.opts.Version})
	return nil
}

// loadOverrides applies the stored runtime settings over the configuration.
// One that no longer applies is logged and ignored.
func (d *Daemon) loadOverrides(ctx context.Context) error {
	stored, err := d.rt.settings.Settings(ctx)
	if err != nil {
		return err
	}
	d.cfg, d.rt.overrides = d.overlay(d.cfg, stored)
	return nil
}

// overlay applies stored runtime settings over base and returns the
// result and the settings in force. One that no longer applies is logged
// and ignored.
func (d *Daemon) overlay(base Config, stored map[string]string) (Config, map[string]string) {
	overrides := make(map[string]string)
	for _, k := range sortedKeys(stored) {
		if isPolicySetting(k) {
			continue // policy.go
		}
		next := base
		err := next.Set(k, stored[k])
		if err == nil && !isLive(k) {
			err = fmt.Errorf("%s cannot change at runtime", k)
		}
		if err == nil {
			err = next.Validate()
		}
		if err != nil {
			d.logger.Warn("stored runtime setting ignored", "key", k, "value", stored[k], "err", err)
			continue
		}
		base, overrides[k] = next, stored[k]
	}
	return base, overrides
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Events returns the daemon's event log, for the events the server itself
// records (such as failed logins).
func (d *Daemon) Events() *eventlog.Log { return d.events }

// Done is closed once the daemon has stopped, after Close or after a
// shutdown requested through the API.
func (d *Daemon) Done() <-chan struct{} { return d.rt.done }

// Shutdown starts a graceful shutdown, as Close does, without waiting for
// it. Done closes when it has finished.
func (d *Daemon) Shutdown() {
	d.rt.stopOnce.Do(func() { close(d.rt.stop) })
}

// Restart starts a graceful shutdown, as Shutdown does, that asks for a
// restart: once Done closes, RestartRequested says so, and the program
// that runs the daemon starts it again. The daemon itself only signals.
func (d *Daemon) Restart() {
	d.rt.restart.Store(true)
	d.logger.Info("restart requested through the API")
	d.Shutdown()
}

// RestartRequested reports whether the daemon stopped (or is stopping)
// for a restart asked for through the API.
func (d *Daemon) RestartRequested() bool { return d.rt.restart.Load() }

// watchShutdown closes the daemon when a shutdown is requested. It is not
// counted in wg, since it calls Close, which waits for wg.
func (d *Daemon) watchShutdown() {
	select {
	case <-d.rt.stop:
		d.logger.Info("shutdown requested through the API")
		d.Close()
	case <-d.ctx.Done():
	}
}

// Info describes the running server.
func (d *Daemon) Info() wire.ServerInfo {
	host, _ := os.Hostname()
	d.rt.mu.Lock()
	cfg := d.cfg.Map()
	// The names in effect, as docs/config.md gives their defaults.
	cfg["cluster_name"], cfg["node_name"] = d.cfg.ClusterNameOrDefault(), d.cfg.NodeNameOrHost()
	d.rt.mu.Unlock()
	return wire.ServerInfo{
		Version: d.opts.Version, GoVersion: runtime.Version(),
		StartedAt: d.rt.started, Uptime: d.rt.now().Sub(d.rt.started).Round(time.Second).String(),
		HardwareID: d.hardwareID(), HardwareKey: d.hardwareKeyInfo(), Hostname: host, DataDir: d.cfg.Data, Config: cfg,
	}
}

// Settings returns the runtime settings and where their values come from.
func (d *Daemon) Settings() []wire.Setting {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	out := make([]wire.Setting, 0, len(LiveKeys()))
	for _, k := range LiveKeys() {
		v, _ := d.cfg.Get(k)
		src := "config"
		if _, ok := d.rt.overrides[k]; ok {
			src = "runtime"
		}
		out = append(out, wire.Setting{Key: k, Value: v, Source: src})
	}
	return out
}

func notLive(key string) error {
	if _, ok := LookupKey(key); !ok {
		return usher.Errorf(usher.EInvalid, "unknown key %q: the runtime settings are %v", key, LiveKeys())
	}
	return usher.Errorf(usher.EInvalid, "%s cannot change at runtime: set it in the config file and restart the server", key)
}

// ChangeSettings validates every value to set and every key to reset,
// then stores and applies them together: a change that fails changes
// nothing. Errors: EInvalid naming the key, or a store failure.
func (d *Daemon) ChangeSettings(ctx context.Context, set map[string]string, reset []string) ([]wire.Change, error) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	next, canon, err := d.nextSettings(set, reset)
	if err != nil {
		return nil, err
	}
	if err := d.rt.settings.SetSettings(ctx, canon, reset); err != nil {
		return nil, err
	}
	for k, v := range canon {
		d.rt.overrides[k] = v
	}
	for _, k := range reset {
		delete(d.rt.overrides, k)
	}
	how := "set through the API"
	if len(set) == 0 {
		how = "reset to the config file's value"
	} else if len(reset) > 0 {
		how = "set or reset through the API"
	}
	return d.applyLocked(next, how), nil
}

// nextSettings returns the configuration with set and reset applied, and
// the values of set in canonical form; it changes nothing.
func (d *Daemon) nextSettings(set map[string]string, reset []string) (Config, map[string]string, error) {
	next := d.cfg
	canon := make(map[string]string, len(set))
	for _, k := range sortedKeys(set) {
		if !isLive(k) {
			return next, nil, notLive(k)
		}
		if err := next.Set(k, set[k]); err != nil {
			return next, nil, usher.Errorf(usher.EInvalid, "%v", err)
		}
		canon[k], _ = next.Get(k)
	}
	for _, k := range reset {
		if !isLive(k) {
			return next, nil, notLive(k)
		}
		if _, ok := set[k]; ok {
			return next, nil, usher.Errorf(usher.EInvalid, "%s is both set and reset: do one or the other", k)
		}
		v, _ := d.rt.fileCfg.Get(k)
		if err := next.Set(k, v); err != nil {
			return next, nil, err
		}
	}
	if err := next.Validate(); err != nil {
		return next, nil, usher.Errorf(usher.EInvalid, "%v", err)
	}
	return next, canon, nil
}

// Reload reads the configuration again through Options.Reload. Live keys
// that changed are applied (runtime values set through the API still win);
// other changed keys are reported as needing a restart.
func (d *Daemon) Reload(ctx context.Context) (wire.ReloadResult, error) {
	res := wire.ReloadResult{Applied: []wire.Change{}, RestartRequired: []wire.Change{}}
	if d.opts.Reload == nil {
		return res, usher.Errorf(usher.EInvalid, "this server was started without a configuration to reload")
	}
	fileCfg, err := d.opts.Reload()
	if err != nil {
		return res, usher.Errorf(usher.EInvalid, "reload: %v; nothing was changed", err)
	}
	policyChanges, err := d.reloadPolicy(ctx)
	if err != nil {
		return res, usher.Errorf(usher.EInvalid, "reload: %v; nothing was changed", err)
	}
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	next := fileCfg
	for k, v := range d.rt.overrides {
		if err := next.Set(k, v); err != nil {
			return res, err
		}
	}
	if err := next.Validate(); err != nil {
		return res, usher.Errorf(usher.EInvalid, "reload: %v; nothing was changed", err)
	}
	for _, k := range Keys() {
		old, _ := d.cfg.Get(k.Name)
		nv, _ := next.Get(k.Name)
		if !isLive(k.Name) && old != nv {
			res.RestartRequired = append(res.RestartRequired, wire.Change{Key: k.Name, Old: old, New: nv})
		}
	}
	d.rt.fileCfg = fileCfg
	res.Applied = append(res.Applied, d.applyLocked(next, "reloaded from the configuration")...)
	res.Applied = append(res.Applied, policyChanges...)
	d.logger.Info("configuration reloaded", "applied", len(res.Applied), "restart_required", len(res.RestartRequired))
	return res, nil
}

// applyShared applies the runtime settings stored in etcd, which another
// node may have changed. That node recorded the config_changed events.
func (d *Daemon) applyShared() {
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	stored, err := d.rt.settings.Settings(ctx)
	if err != nil {
		d.logger.Warn("read runtime settings from etcd", "err", err)
		return
	}
	d.applySharedPolicy(stored)
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	next, overrides := d.overlay(d.rt.fileCfg, stored)
	d.rt.overrides = overrides
	d.applyChanges(next, "changed on another node", false)
}

// applyLocked makes the live keys of next effective, and records a
// config_changed event for each one that changed.
func (d *Daemon) applyLocked(next Config, how string) []wire.Change {
	return d.applyChanges(next, how, true)
}

// applyChanges makes the live keys of next effective and, if record, records a
// config_changed event for each one that changed.
func (d *Daemon) applyChanges(next Config, how string, record bool) []wire.Change {
	changes := []wire.Change{}
	for _, k := range LiveKeys() {
		old, _ := d.cfg.Get(k)
		nv, _ := next.Get(k)
		if old == nv {
			continue
		}
		_ = d.cfg.Set(k, nv)
		changes = append(changes, wire.Change{Key: k, Old: old, New: nv})
		if record {
			d.events.Record(usher.Event{Type: eventlog.EventConfigChanged, Reason: fmt.Sprintf("%s=%s (was %s; %s)", k, nv, old, how)})
		}
		d.logger.Info("setting changed", "key", k, "old", old, "new", nv, "how", how)
	}
	if len(changes) > 0 {
		d.applyLive()
	}
	return changes
}

// applyLive pushes the live keys of d.cfg into the running parts.
func (d *Daemon) applyLive() {
	if l := d.Ledger(); l != nil {
		_ = l.SetKeepaliveTimeout(time.Duration(d.cfg.KeepaliveTimeout))
	}
	d.rt.idle.Store(int64(d.cfg.ConnectionTimeout))
	if d.opts.LogLevel != nil {
		d.opts.LogLevel.Set(SlogLevel(d.cfg.LogLevel))
	}
	d.events.SetRetention(time.Duration(d.cfg.EventRetention), time.Duration(d.cfg.UsageRetention))
	select { // keep only the latest interval
	case <-d.rt.scan:
	default:
	}
	d.rt.scan <- time.Duration(d.cfg.KeepaliveScanInterval)
}
