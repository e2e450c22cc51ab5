package sqlite

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	usher "github.com/usher-lm/usher"
)

// meterSchema holds the consumptions of metered features and the states
// of licenses (activation, renewal), which outlive the licenses.
const meterSchema = `
CREATE TABLE IF NOT EXISTS consumptions (
	id         TEXT PRIMARY KEY,
	request_id TEXT NOT NULL DEFAULT '',
	feature    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	user       TEXT NOT NULL DEFAULT '',
	host       TEXT NOT NULL DEFAULT '',
	pid        INTEGER NOT NULL DEFAULT 0,
	amount     INTEGER NOT NULL,
	at         TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS license_states (
	id    TEXT PRIMARY KEY,
	state TEXT NOT NULL
) WITHOUT ROWID;
`

// PutConsumption stores a consumption durably.
func (s *Store) PutConsumption(ctx context.Context, c usher.Consumption) error {
	return s.writer.Submit(ctx, op{kind: opPutConsumption, cons: c})
}

// DeleteConsumptions removes consumptions durably.
func (s *Store) DeleteConsumptions(ctx context.Context, ids []string) error {
	return s.writer.Submit(ctx, op{kind: opDeleteConsumption, ids: ids})
}

// PutLicenseState stores a license's state durably.
func (s *Store) PutLicenseState(ctx context.Context, st usher.LicenseState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode license state: %w", err)
	}
	return s.writer.Submit(ctx, op{kind: opPutLicenseState, ids: []string{st.ID}, state: b})
}

// applyMeter applies o if it is a put of this file's kinds.
func applyMeter(exec func(opKind, ...driver.Value) error, o *op) (bool, error) {
	switch o.kind {
	case opPutConsumption:
		c := o.cons
		return true, exec(o.kind, c.ID, c.RequestID, c.Feature, c.Client.ID, c.Client.User, c.Client.Host, int64(c.Client.PID),
			c.Amount, c.At.UTC().Format(time.RFC3339Nano))
	case opPutLicenseState:
		return true, exec(o.kind, o.ids[0], string(o.state))
	}
	return false, nil
}

func (s *Store) loadMeter(ctx context.Context, snap *usher.Snapshot) error {
	var err error
	if snap.Consumptions, err = s.loadConsumptions(ctx); err != nil {
		return fmt.Errorf("load consumptions: %w", err)
	}
	if snap.LicenseStates, err = s.loadLicenseStates(ctx); err != nil {
		return fmt.Errorf("load license states: %w", err)
	}
	return nil
}

func (s *Store) loadConsumptions(ctx context.Context) ([]usher.Consumption, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, request_id, feature, client_id, user, host, pid, amount, at FROM consumptions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []usher.Consumption
	for rows.Next() {
		var c usher.Consumption
		var at string
		if err := rows.Scan(&c.ID, &c.RequestID, &c.Feature, &c.Client.ID, &c.Client.User, &c.Client.Host, &c.Client.PID, &c.Amount, &at); err != nil {
			return nil, err
		}
		if c.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return nil, fmt.Errorf("consumption %s: at: %w", c.ID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) loadLicenseStates(ctx context.Context) ([]usher.LicenseState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, state FROM license_states`)
	if err != nil {
		return nil, err
	}
	var out []usher.LicenseState
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			rows.Close()
			return nil, err
		}
		var st usher.LicenseState
		if err := json.Unmarshal([]byte(text), &st); err != nil {
			rows.Close()
			return nil, fmt.Errorf("license state %s: %w", id, err)
		}
		out = append(out, st)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}
