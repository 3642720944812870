package store

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement: a pgx.Tx, or a *Batch that queues it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RowQueuer is an Execer that can also take plain inserts row by row and
// send the rows of one table together (a *Batch). Insert functions use it
// when they get one, and Exec otherwise.
type RowQueuer interface {
	Execer
	QueueRow(table, columns string, values ...any)
}

// Batch queues statements to send in one round trip. It satisfies Execer
// (and audit.Execer), so the same insert functions serve a transaction and
// a batch.
type Batch struct {
	rows  []*rowGroup
	stmts pgx.Batch
}

// rowGroup is the rows queued for one table and column list.
type rowGroup struct {
	table, columns string
	width          int
	values         []any // width per row
}

// rows is how many rows g holds.
func (g *rowGroup) rows() int { return len(g.values) / g.width }

// Exec queues the statement; its error, if any, comes when the batch is sent.
func (b *Batch) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b.stmts.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// QueueRow queues one row of values for table's columns (a comma-separated
// list that every caller spells the same). The rows of one table and column
// list, from every filing in a shared transaction, go as one multi-row
// INSERT in the order queued, before the statements queued with Exec: one
// statement instead of one per row is about a third of PostgreSQL's work
// for a filing (docs/BENCHMARKS.md).
func (b *Batch) QueueRow(table, columns string, values ...any) {
	for _, g := range b.rows {
		if g.table == table && g.columns == columns && g.width == len(values) {
			g.values = append(g.values, values...)
			return
		}
	}
	// A copy: values may be a window on another batch's rows.
	b.rows = append(b.rows, &rowGroup{table: table, columns: columns, width: len(values),
		values: append(make([]any, 0, 4*len(values)), values...)})
}

// add appends o's rows and statements to b's.
func (b *Batch) add(o *Batch) {
	for _, g := range o.rows {
		for i := range g.rows() {
			b.QueueRow(g.table, g.columns, g.values[i*g.width:(i+1)*g.width]...)
		}
	}
	b.stmts.QueuedQueries = append(b.stmts.QueuedQueries, o.stmts.QueuedQueries...)
}

// maxParams is PostgreSQL's limit on one statement's bind parameters.
const maxParams = 65535

// batch returns what to send: one INSERT per row group (more when a group
// has more values than a statement may bind), then the statements.
func (b *Batch) batch() *pgx.Batch {
	var out pgx.Batch
	for _, g := range b.rows {
		per := max(1, maxParams/g.width)
		for first := 0; first < g.rows(); first += per {
			rows := min(per, g.rows()-first)
			var sql strings.Builder
			sql.WriteString("INSERT INTO " + g.table + " (" + g.columns + ") VALUES ")
			p := 0
			for r := 0; r < rows; r++ {
				if r > 0 {
					sql.WriteByte(',')
				}
				sql.WriteByte('(')
				for c := 0; c < g.width; c++ {
					if c > 0 {
						sql.WriteByte(',')
					}
					p++
					sql.WriteString("$" + strconv.Itoa(p))
				}
				sql.WriteByte(')')
			}
			out.Queue(sql.String(), g.values[first*g.width:(first+rows)*g.width]...)
		}
	}
	out.QueuedQueries = append(out.QueuedQueries, b.stmts.QueuedQueries...)
	return &out
}
