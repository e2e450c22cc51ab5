package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// statements the writer prepares once, by the kind of change.
var writerStatements = map[opKind]string{
	opPutLease:      `INSERT OR REPLACE INTO leases (id, feature, client_id, user, host, pid, issued_at, owner, address, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	opDeleteLease:   `DELETE FROM leases WHERE id = ?`,
	opPutLicense:    `INSERT OR REPLACE INTO licenses (id, text, added_at) VALUES (?, ?, ?)`,
	opDeleteLicense: `DELETE FROM licenses WHERE id = ?`,
	opPutBan:        `INSERT OR REPLACE INTO bans (id, feature, user, host, created_at, until) VALUES (?, ?, ?, ?, ?, ?)`,
	opDeleteBan:     `DELETE FROM bans WHERE id = ?`,

	opPutConsumption:    `INSERT OR REPLACE INTO consumptions (id, request_id, feature, client_id, user, host, pid, amount, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	opDeleteConsumption: `DELETE FROM consumptions WHERE id = ?`,
	opPutLicenseState:   `INSERT OR REPLACE INTO license_states (id, state) VALUES (?, ?)`,
	opPutReleased:       `INSERT OR REPLACE INTO released_licenses (id, released_at, receipt) VALUES (?, ?, ?)`,
}

// writerConn is the writer goroutine's connection. It talks to the driver
// directly: database/sql's transaction and statement wrappers, and its
// conversion of every argument, cost a noticeable share of a checkout.
type writerConn struct {
	conn  *sql.Conn
	stmts map[opKind]driver.Stmt
	args  []driver.NamedValue
}

func openWriterConn(db *sql.DB) (*writerConn, error) {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writerConn{conn: conn, stmts: make(map[opKind]driver.Stmt)}
	err = conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the sqlite driver's connection (%T) cannot prepare statements", dc)
		}
		if _, ok := dc.(driver.ExecerContext); !ok {
			return fmt.Errorf("the sqlite driver's connection (%T) cannot execute statements", dc)
		}
		for kind, q := range writerStatements {
			st, err := p.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare %q: %w", q, err)
			}
			w.stmts[kind] = st
		}
		return nil
	})
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// commit runs fill in one transaction; exec runs one prepared statement.
func (w *writerConn) commit(fill func(exec func(opKind, ...driver.Value) error) error) error {
	ctx := context.Background()
	return w.conn.Raw(func(dc any) error {
		conn := dc.(driver.ExecerContext)
		if _, err := conn.ExecContext(ctx, "BEGIN", nil); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		exec := func(kind opKind, vals ...driver.Value) error {
			w.args = w.args[:0]
			for i, v := range vals {
				w.args = append(w.args, driver.NamedValue{Ordinal: i + 1, Value: v})
			}
			_, err := w.stmts[kind].(driver.StmtExecContext).ExecContext(ctx, w.args)
			return err
		}
		if err := fill(exec); err != nil {
			_, rbErr := conn.ExecContext(ctx, "ROLLBACK", nil)
			return errors.Join(err, rbErr)
		}
		if _, err := conn.ExecContext(ctx, "COMMIT", nil); err != nil {
			_, rbErr := conn.ExecContext(ctx, "ROLLBACK", nil)
			return errors.Join(fmt.Errorf("commit: %w", err), rbErr)
		}
		return nil
	})
}

func (w *writerConn) close() error {
	var err error
	for _, st := range w.stmts {
		err = errors.Join(err, st.Close())
	}
	return errors.Join(err, w.conn.Close())
}
