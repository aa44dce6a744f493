package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table is rows of cells under a header, printed aligned.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// add appends a row; each cell is formatted with %v.
func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range append([][]string{t.header}, t.rows...) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// writeSections prints items of several tables each: one blank line
// between tables and between items.
func writeSections(w io.Writer, items [][]*table) error {
	first := true
	for _, tables := range items {
		for _, t := range tables {
			if !first {
				fmt.Fprintln(w)
			}
			first = false
			if err := t.write(w); err != nil {
				return err
			}
		}
	}
	return nil
}

// print writes the table, or v as indented JSON with --json.
func (e *env) print(t *table, v any) error {
	return e.printSections([][]*table{{t}}, v)
}

// printSections writes the items' tables, or v as indented JSON with --json.
func (e *env) printSections(items [][]*table, v any) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return writeSections(e.stdout, items)
}

// errText is err as a table cell or JSON field: Kafka's error name and
// description, and the broker's message if it sent one; "" for nil.
func errText(err error, brokerMessage string) string {
	switch {
	case err == nil:
		return ""
	case brokerMessage != "" && !strings.Contains(err.Error(), brokerMessage):
		return err.Error() + " (" + brokerMessage + ")"
	default:
		return err.Error()
	}
}

// status is a table's outcome cell: done, or the error.
func status(done string, err error, brokerMessage string) string {
	if err != nil {
		return errText(err, brokerMessage)
	}
	return done
}

// ints formats replica lists as Kafka's tools do: [1,2,3].
func ints(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
