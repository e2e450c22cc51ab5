package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	usher "github.com/usher-lm/usher"
)

const (
	insertSQL = "INSERT INTO events (id, time, behind, type, feature, lease_id, client_id, user, host, pid, license_id, reason, waited) VALUES "
	// rowArgs is how many arguments a row takes: every column but the id,
	// which is the statement's first argument plus the row's place, so
	// that numbering costs no binding.
	rowArgs = 12
)

// insertRows is the most events one INSERT statement carries: one
// statement per event would cost most of the writer's time. There is a
// statement for every power of two up to it, so that any batch takes a
// few statements.
const (
	insertRows  = 1 << insertSizes
	insertSizes = 7
)

// insertStatement returns an INSERT of n rows.
func insertStatement(n int) string {
	var b strings.Builder
	b.WriteString(insertSQL)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(?1+%d%s)", i, strings.Repeat(",?", rowArgs))
	}
	return b.String()
}

// inserter stores events through a connection of its own, straight to the
// driver: database/sql's conversion and checks of every argument cost
// about a tenth of storing an event. Only the writer uses it.
type inserter struct {
	conn  *sql.Conn
	stmts []driver.Stmt // INSERTs of 1, 2, 4 … insertRows events
	args  []driver.NamedValue
}

func openInserter(db *sql.DB) (*inserter, error) {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &inserter{conn: conn, args: make([]driver.NamedValue, 0, 1+rowArgs*insertRows)}
	err = conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the sqlite driver's connection (%T) cannot prepare with a context", dc)
		}
		for k := range insertSizes + 1 {
			st, err := p.PrepareContext(ctx, insertStatement(1<<k))
			if err != nil {
				return err
			}
			if _, ok := st.(driver.StmtExecContext); !ok {
				st.Close()
				return fmt.Errorf("the sqlite driver's statement (%T) cannot execute with a context", st)
			}
			w.stmts = append(w.stmts, st)
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(err, w.close())
	}
	return w, nil
}

// close closes the statements and gives the connection back.
func (w *inserter) close() error {
	err := w.conn.Raw(func(any) error {
		var errs []error
		for _, st := range w.stmts {
			errs = append(errs, st.Close())
		}
		return errors.Join(errs...)
	})
	return errors.Join(err, w.conn.Close())
}

// arg appends the next positional argument.
func (w *inserter) arg(v driver.Value) {
	w.args = append(w.args, driver.NamedValue{Ordinal: len(w.args) + 1, Value: v})
}

// text is an empty string as NULL, which is cheaper to bind.
func nullText(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

// row appends the column values of one event, but for its id.
func (w *inserter) row(ev *usher.Event, upto int64) {
	t := ev.Time.UnixNano()
	w.arg(t)
	w.arg(upto - t)
	w.arg(ev.Type)
	w.arg(nullText(ev.Feature))
	w.arg(nullText(ev.LeaseID))
	w.arg(nullText(ev.Client.ID))
	w.arg(nullText(ev.Client.User))
	w.arg(nullText(ev.Client.Host))
	if ev.Client.PID != 0 {
		w.arg(int64(ev.Client.PID))
	} else {
		w.arg(nil)
	}
	w.arg(nullText(ev.LicenseID))
	w.arg(nullText(ev.Reason))
	if ev.WaitedMS != 0 {
		w.arg(ev.WaitedMS)
	} else {
		w.arg(nil)
	}
}

// insert stores batch in one transaction, numbered from first on, and
// returns the running maximum of time after it, starting from upto.
func (w *inserter) insert(batch []usher.Event, first, upto int64) (int64, error) {
	ctx := context.Background()
	err := w.conn.Raw(func(dc any) error {
		tx, err := dc.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return err
		}
		for start := 0; start < len(batch); {
			k := min(bits.Len(uint(len(batch)-start))-1, insertSizes)
			rows := batch[start : start+1<<k]
			w.args = w.args[:0]
			w.arg(first + int64(start))
			for i := range rows {
				upto = max(upto, rows[i].Time.UnixNano())
				w.row(&rows[i], upto)
			}
			_, err := w.stmts[k].(driver.StmtExecContext).ExecContext(ctx, w.args)
			clear(w.args)
			if err != nil {
				return errors.Join(err, tx.Rollback())
			}
			start += len(rows)
		}
		if err := tx.Commit(); err != nil {
			_ = tx.Rollback() // in case the commit failed busy and left the transaction open
			return err
		}
		return nil
	})
	return upto, err
}
