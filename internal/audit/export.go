package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// ExportOptions configure Export.
type ExportOptions struct {
	// Format is FormatJSONL (default) or FormatCSV.
	Format string
	// FromSeq resumes an export: events from this seq on, and the
	// checkpoints whose head is at or after it. 0 or 1 is the whole trail.
	FromSeq int64
}

// ExportResult counts what Export wrote.
type ExportResult struct {
	Events      int64 `json:"events"`
	Checkpoints int64 `json:"checkpoints"`
	// LastSeq is the seq of the last event written: resume with LastSeq+1.
	LastSeq int64 `json:"last_seq"`
	// Unsealed events are not exported: they have no place in the chain yet.
	Unsealed int64 `json:"unsealed"`
}

// Export writes the sealed trail to w in seq order, each checkpoint right
// after the event at its head, streamed from one database snapshot in
// constant memory. The output is what VerifyStream checks offline.
//
// JSON Lines: one object per line, "type" first. An event line holds every
// Event field (seq, id, occurred_at, kind, actor, request_id,
// db_instance_id, error_code, alibaba_request_id, payload, prev_hash, hash);
// the payload is embedded as the exact JSON that was hashed, or, when those
// bytes would not survive as one embedded line (a leading space, a line
// break), given as a string in "payload_text" with "payload" null. A
// checkpoint line holds seq, head_seq, head_hash, created_at, key_id,
// prev_signature and signature. Hashes and signatures are lower-case hex,
// times RFC 3339 UTC with microseconds.
//
// CSV: a header row, then one row per event or checkpoint with the columns
// of csvHeader: the event's own fields and the checkpoint's, then the
// payload's Fields (environment, justification, decision, groups, …) as
// columns of their own, derived from the payload column, which stays the
// record. Cells that a spreadsheet would run as a formula (starting with =
// + - @ tab or CR) and cells starting with an apostrophe get one leading
// apostrophe, which VerifyStream removes again. A payload that JSON Lines
// gives as payload_text is written as "hex:" and its bytes in hex.
func Export(ctx context.Context, db Querier, w io.Writer, o ExportOptions) (ExportResult, error) {
	enc, err := newEncoder(w, o.Format)
	if err != nil {
		return ExportResult{}, err
	}
	from := max(o.FromSeq, 1)
	t, err := openTrail(ctx, db, from)
	if err != nil {
		return ExportResult{}, fmt.Errorf("export audit trail: %w", err)
	}
	defer t.close()
	var res ExportResult
	for {
		e, cp, err := t.next()
		if err != nil {
			return res, fmt.Errorf("export audit trail: %w", err)
		}
		switch {
		case e != nil:
			err = enc.event(e)
			res.Events++
			res.LastSeq = e.Seq
		case cp != nil:
			err = enc.checkpoint(cp)
			res.Checkpoints++
		default:
			if err := enc.flush(); err != nil {
				return res, fmt.Errorf("export audit trail: %w", err)
			}
			if res.Unsealed, err = t.unsealed(ctx); err != nil {
				return res, fmt.Errorf("export audit trail: count unsealed: %w", err)
			}
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("export audit trail: %w", err)
		}
	}
}

// ExportSearch writes every event matching f (newest first, as Search
// pages them, f.Cursor and f.Limit ignored) to w as event lines or rows of
// the Export formats, without checkpoints: a filtered selection for reading,
// not a trail to verify. It reads page by page, in constant memory.
func ExportSearch(ctx context.Context, db Querier, w io.Writer, format string, f Filter) (int64, error) {
	enc, err := newEncoder(w, format)
	if err != nil {
		return 0, err
	}
	f.Cursor, f.Limit = "", MaxPageSize
	var n int64
	for {
		page, err := Search(ctx, db, f)
		if err != nil {
			return n, fmt.Errorf("export audit search: %w", err)
		}
		for i := range page.Items {
			if err := enc.event(&page.Items[i]); err != nil {
				return n, fmt.Errorf("export audit search: %w", err)
			}
			n++
		}
		if page.NextCursor == "" {
			if err := enc.flush(); err != nil {
				return n, fmt.Errorf("export audit search: %w", err)
			}
			return n, nil
		}
		f.Cursor = page.NextCursor
	}
}

// encoder writes export lines.
type encoder interface {
	event(*Event) error
	checkpoint(*Checkpoint) error
	flush() error
}

func newEncoder(w io.Writer, format string) (encoder, error) {
	switch format {
	case "", FormatJSONL:
		return &jsonlEncoder{w: bufio.NewWriterSize(w, 64<<10)}, nil
	case FormatCSV:
		return newCSVEncoder(w)
	}
	return nil, &FilterError{Field: "format", Message: fmt.Sprintf("unknown export format %q: want jsonl or csv", format)}
}

// jsonlEncoder writes JSON Lines by hand: the payload must stay the exact
// bytes that were hashed, which encoding/json would re-format.
type jsonlEncoder struct {
	w   *bufio.Writer
	buf []byte
}

func (j *jsonlEncoder) event(e *Event) error {
	b := append(j.buf[:0], `{"type":"event","seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `,"occurred_at":"`...)
	b = e.OccurredAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","kind":`...)
	b = appendJSONString(b, e.Kind)
	b = append(b, `,"actor":`...)
	b = appendJSONString(b, e.Actor)
	b = append(b, `,"request_id":`...)
	if e.RequestID.Valid {
		b = append(b, '"')
		b = append(b, e.RequestID.UUID.String()...)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"db_instance_id":`...)
	b = appendJSONString(b, e.DBInstanceID)
	b = append(b, `,"error_code":`...)
	b = appendJSONString(b, e.ErrorCode)
	b = append(b, `,"alibaba_request_id":`...)
	b = appendJSONString(b, e.AlibabaRequestID)
	if embeddable(e.Payload) {
		b = append(b, `,"payload":`...)
		b = append(b, e.Payload...)
	} else {
		b = append(b, `,"payload":null,"payload_text":`...)
		b = appendJSONString(b, string(e.Payload))
	}
	b = append(b, `,"prev_hash":"`...)
	b = hex.AppendEncode(b, e.PrevHash)
	b = append(b, `","hash":"`...)
	b = hex.AppendEncode(b, e.Hash)
	b = append(b, "\"}\n"...)
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlEncoder) checkpoint(c *Checkpoint) error {
	b := append(j.buf[:0], `{"type":"checkpoint","seq":`...)
	b = strconv.AppendInt(b, c.Seq, 10)
	b = append(b, `,"head_seq":`...)
	b = strconv.AppendInt(b, c.HeadSeq, 10)
	b = append(b, `,"head_hash":"`...)
	b = hex.AppendEncode(b, c.HeadHash)
	b = append(b, `","created_at":"`...)
	b = c.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","key_id":`...)
	b = appendJSONString(b, c.KeyID)
	b = append(b, `,"prev_signature":"`...)
	b = hex.AppendEncode(b, c.PrevSignature)
	b = append(b, `","signature":"`...)
	b = hex.AppendEncode(b, c.Signature)
	b = append(b, "\"}\n"...)
	j.buf = b
	_, err := j.w.Write(b)
	return err
}

func (j *jsonlEncoder) flush() error { return j.w.Flush() }

// embeddable reports whether p can be embedded as a JSON value on one line
// and read back as exactly the same bytes.
func embeddable(p []byte) bool {
	if len(p) == 0 || isJSONSpace(p[0]) || isJSONSpace(p[len(p)-1]) {
		return false
	}
	if bytes.IndexByte(p, '\n') >= 0 || bytes.IndexByte(p, '\r') >= 0 {
		return false
	}
	return json.Valid(p)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 (which a UTF8
// database cannot hold) becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// csvRecordHeader are the CSV export's first columns: the event's and the
// checkpoint's own fields, as every version of the export wrote them.
var csvRecordHeader = []string{"type", "seq", "id", "occurred_at", "kind", "actor", "request_id", "db_instance_id",
	"error_code", "alibaba_request_id", "payload", "prev_hash", "hash",
	"head_seq", "head_hash", "key_id", "prev_signature", "signature"}

// csvHeader is the CSV export's header row: the record's columns, then the
// payload's Fields (fieldColumns), which exports before them lack.
var csvHeader = append(slices.Clip(csvRecordHeader), fieldColumns...)

// CSVHeader returns the CSV export's header row, as a new slice.
func CSVHeader() []string { return slices.Clone(csvHeader) }

type csvEncoder struct {
	w      *csv.Writer
	row    []string
	fields []string
}

func newCSVEncoder(w io.Writer) (*csvEncoder, error) {
	c := &csvEncoder{w: csv.NewWriter(bufio.NewWriterSize(w, 64<<10)), row: make([]string, len(csvHeader))}
	if err := c.w.Write(csvHeader); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *csvEncoder) event(e *Event) error {
	r := c.row
	clear(r)
	r[0], r[1], r[2] = "event", strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.ID, 10)
	r[3] = e.OccurredAt.UTC().Format(time.RFC3339Nano)
	r[4], r[5] = cell(e.Kind), cell(e.Actor)
	if e.RequestID.Valid {
		r[6] = e.RequestID.UUID.String()
	}
	r[7], r[8], r[9] = cell(e.DBInstanceID), cell(e.ErrorCode), cell(e.AlibabaRequestID)
	if embeddable(e.Payload) {
		r[10] = cell(string(e.Payload))
	} else {
		// CSV readers turn CR LF into LF even inside quotes; JSON never
		// starts with "hex:", so the marker is unambiguous.
		r[10] = "hex:" + hex.EncodeToString(e.Payload)
	}
	r[11], r[12] = hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash)
	c.fields = PayloadFields(e.Kind, e.Payload).columns(c.fields[:0])
	for i, v := range c.fields {
		r[len(csvRecordHeader)+i] = cell(v)
	}
	return c.w.Write(r)
}

func (c *csvEncoder) checkpoint(cp *Checkpoint) error {
	r := c.row
	clear(r)
	r[0], r[1] = "checkpoint", strconv.FormatInt(cp.Seq, 10)
	r[3] = cp.CreatedAt.UTC().Format(time.RFC3339Nano)
	r[13], r[14], r[15] = strconv.FormatInt(cp.HeadSeq, 10), hex.EncodeToString(cp.HeadHash), cell(cp.KeyID)
	r[16], r[17] = hex.EncodeToString(cp.PrevSignature), hex.EncodeToString(cp.Signature)
	return c.w.Write(r)
}

func (c *csvEncoder) flush() error {
	c.w.Flush()
	return c.w.Error()
}

// cell guards a text cell against spreadsheet formula injection,
// reversibly (uncell).
func cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

func uncell(s string) string {
	if len(s) >= 2 && s[0] == '\'' {
		return s[1:]
	}
	return s
}

// VerifyStream checks an export (JSON Lines or CSV, told apart by the
// first bytes) with a Chain, without any database: the chain itself needs
// no key, the checkpoints are checked against o.Keys. A line that cannot be
// read is an error, not a Problem.
func VerifyStream(r io.Reader, o VerifyOptions) (Report, error) {
	c, err := o.chain()
	if err != nil {
		return Report{}, fmt.Errorf("verify export: %w", err)
	}
	d, err := newDecoder(r)
	if err != nil {
		return Report{}, fmt.Errorf("verify export: %w", err)
	}
	for {
		e, cp, err := d.next()
		if err != nil {
			return Report{}, fmt.Errorf("verify export: %w", err)
		}
		switch {
		case e != nil:
			if c.Next(e) == nil {
				if cd, ok := d.(*csvDecoder); ok && cd.edited != nil && cd.edited.Seq == e.Seq {
					c.fail(cd.edited)
				}
			}
		case cp != nil:
			c.Checkpoint(cp)
		default:
			c.Finish()
			return c.Report, nil
		}
		if p := c.Report.Problem; p != nil && p.Checkpoint != 0 {
			c.Finish()
			return c.Report, nil
		}
	}
}

// decoder reads export lines; next returns neither at the end.
type decoder interface {
	next() (*Event, *Checkpoint, error)
}

func newDecoder(r io.Reader) (decoder, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(5)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if string(head) == "type," {
		cr := csv.NewReader(br)
		cr.ReuseRecord = true
		h, err := cr.Read()
		if err != nil {
			return nil, fmt.Errorf("csv header: %w", err)
		}
		// An export written before the payload's columns existed has the
		// record's columns alone.
		want := csvHeader
		if len(h) == len(csvRecordHeader) {
			want = csvRecordHeader
		}
		if len(h) != len(want) {
			return nil, fmt.Errorf("csv header: %d columns, want %d", len(h), len(want))
		}
		for i, name := range want {
			if h[i] != name {
				return nil, fmt.Errorf("csv header: column %d is %q, want %q", i+1, h[i], name)
			}
		}
		cr.FieldsPerRecord = len(want)
		return &csvDecoder{r: cr, fields: len(want) > len(csvRecordHeader)}, nil
	}
	return &jsonlDecoder{r: br}, nil
}

// exportLine is one JSON Lines object, event or checkpoint.
type exportLine struct {
	Type             string          `json:"type"`
	Seq              int64           `json:"seq"`
	ID               int64           `json:"id"`
	OccurredAt       time.Time       `json:"occurred_at"`
	Kind             string          `json:"kind"`
	Actor            string          `json:"actor"`
	RequestID        uuid.NullUUID   `json:"request_id"`
	DBInstanceID     string          `json:"db_instance_id"`
	ErrorCode        string          `json:"error_code"`
	AlibabaRequestID string          `json:"alibaba_request_id"`
	Payload          json.RawMessage `json:"payload"`
	PayloadText      *string         `json:"payload_text"`
	PrevHash         HexBytes        `json:"prev_hash"`
	Hash             HexBytes        `json:"hash"`
	HeadSeq          int64           `json:"head_seq"`
	HeadHash         HexBytes        `json:"head_hash"`
	CreatedAt        time.Time       `json:"created_at"`
	KeyID            string          `json:"key_id"`
	PrevSignature    HexBytes        `json:"prev_signature"`
	Signature        HexBytes        `json:"signature"`
}

type jsonlDecoder struct {
	r    *bufio.Reader
	line int
	fast lineParser
	l    exportLine
	e    Event
	cp   Checkpoint
	buf  []byte
}

func (d *jsonlDecoder) next() (*Event, *Checkpoint, error) {
	for {
		b, err := d.readLine()
		if err != nil {
			return nil, nil, err
		}
		if b == nil {
			return nil, nil, nil
		}
		d.line++
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		d.l = exportLine{}
		if !d.fast.parse(b, &d.l) {
			d.l = exportLine{}
			if err := json.Unmarshal(b, &d.l); err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", d.line, err)
			}
		}
		l := &d.l
		switch l.Type {
		case "event":
			payload := []byte(l.Payload)
			if l.PayloadText != nil {
				payload = []byte(*l.PayloadText)
			}
			d.e = Event{ID: l.ID, Seq: l.Seq, OccurredAt: l.OccurredAt.UTC(), Kind: l.Kind, Actor: l.Actor,
				RequestID: l.RequestID, DBInstanceID: l.DBInstanceID, ErrorCode: l.ErrorCode,
				AlibabaRequestID: l.AlibabaRequestID, Payload: payload, PrevHash: l.PrevHash, Hash: l.Hash}
			return &d.e, nil, nil
		case "checkpoint":
			d.cp = Checkpoint{Seq: l.Seq, HeadSeq: l.HeadSeq, HeadHash: l.HeadHash, CreatedAt: l.CreatedAt.UTC(),
				KeyID: l.KeyID, PrevSignature: l.PrevSignature, Signature: l.Signature}
			return nil, &d.cp, nil
		}
		return nil, nil, fmt.Errorf("line %d: unknown type %q", d.line, l.Type)
	}
}

// readLine returns the next line without its newline, nil at the end.
func (d *jsonlDecoder) readLine() ([]byte, error) {
	d.buf = d.buf[:0]
	for {
		frag, err := d.r.ReadSlice('\n')
		d.buf = append(d.buf, frag...)
		switch {
		case err == nil:
			return d.buf[:len(d.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(d.buf) == 0 {
				return nil, nil
			}
			return d.buf, nil
		default:
			return nil, err
		}
	}
}

type csvDecoder struct {
	r *csv.Reader
	// fields: the rows have the payload's columns, which must agree with
	// the payload; edited names the first event whose do not.
	fields bool
	edited *Problem
	buf    []string
	e      Event
	cp     Checkpoint
}

func (d *csvDecoder) next() (*Event, *Checkpoint, error) {
	rec, err := d.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	line, _ := d.r.FieldPos(0)
	bad := func(col int, err error) error {
		return fmt.Errorf("csv line %d, column %s: %w", line, csvHeader[col], err)
	}
	num := func(col int) (int64, error) {
		if rec[col] == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(rec[col], 10, 64)
		if err != nil {
			return 0, bad(col, err)
		}
		return n, nil
	}
	hexOf := func(col int) ([]byte, error) {
		b, err := hex.DecodeString(rec[col])
		if err != nil {
			return nil, bad(col, err)
		}
		return b, nil
	}
	at, err := time.Parse(time.RFC3339Nano, rec[3])
	if err != nil {
		return nil, nil, bad(3, err)
	}
	seq, err := num(1)
	if err != nil {
		return nil, nil, err
	}
	switch rec[0] {
	case "event":
		e := Event{Seq: seq, OccurredAt: at.UTC(), Kind: uncell(rec[4]), Actor: uncell(rec[5]),
			DBInstanceID: uncell(rec[7]), ErrorCode: uncell(rec[8]), AlibabaRequestID: uncell(rec[9]),
			Payload: json.RawMessage(uncell(rec[10]))}
		if h, ok := strings.CutPrefix(rec[10], "hex:"); ok {
			if e.Payload, err = hex.DecodeString(h); err != nil {
				return nil, nil, bad(10, err)
			}
		}
		if e.ID, err = num(2); err != nil {
			return nil, nil, err
		}
		if rec[6] != "" {
			u, err := uuid.Parse(rec[6])
			if err != nil {
				return nil, nil, bad(6, err)
			}
			e.RequestID = uuid.NullUUID{UUID: u, Valid: true}
		}
		if e.PrevHash, err = hexOf(11); err != nil {
			return nil, nil, err
		}
		if e.Hash, err = hexOf(12); err != nil {
			return nil, nil, err
		}
		if d.fields && d.edited == nil {
			// The chain's hash covers the payload, not the columns derived
			// from it: one edited to read differently is caught here.
			d.buf = PayloadFields(e.Kind, e.Payload).columns(d.buf[:0])
			for i, v := range d.buf {
				if col := len(csvRecordHeader) + i; uncell(rec[col]) != v {
					d.edited = &Problem{Seq: e.Seq, EventID: e.ID, Reason: fmt.Sprintf(
						"column %s does not match the event's payload: the export was edited", csvHeader[col])}
					break
				}
			}
		}
		d.e = e
		return &d.e, nil, nil
	case "checkpoint":
		cp := Checkpoint{Seq: seq, CreatedAt: at.UTC(), KeyID: uncell(rec[15])}
		if cp.HeadSeq, err = num(13); err != nil {
			return nil, nil, err
		}
		if cp.HeadHash, err = hexOf(14); err != nil {
			return nil, nil, err
		}
		if cp.PrevSignature, err = hexOf(16); err != nil {
			return nil, nil, err
		}
		if cp.Signature, err = hexOf(17); err != nil {
			return nil, nil, err
		}
		d.cp = cp
		return nil, &d.cp, nil
	}
	return nil, nil, fmt.Errorf("csv line %d: unknown type %q", line, rec[0])
}
