package localaws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truora/minidyn/server"
)

const (
	// SnapshotFile is the file under the data directory that holds the DynamoDB data.
	SnapshotFile = "dynamodb.json"

	maxRequestBytes = 16 << 20 // DynamoDB's request size limit
	// ttlHorizon: DynamoDB's TTL process skips items whose ttl is more than five years in
	// the past (it takes them for mistakes, e.g. a ttl in the wrong unit).
	ttlHorizon = 5 * 365 * 24 * time.Hour
)

// scanPageSize is how many items the snapshot and the sweep read per Scan call (a
// variable so tests can cross page boundaries with few items).
var scanPageSize = 1000

// Dynamo is the local DynamoDB: truora/minidyn's HTTP server (pure Go, in memory) behind
// a wrapper that makes the AWS SDK treat it like DynamoDB. The wrapper
//   - adds the X-Amz-Crc32 response header the SDK checks;
//   - answers ListTables, UpdateTimeToLive and DescribeTimeToLive, which minidyn lacks,
//     and reports tables ACTIVE (with their attribute definitions) so waiters finish;
//   - deletes expired items (ttl ≤ now) every 30 s, as DynamoDB's TTL process would;
//   - saves every table to <dataDir>/dynamodb.json every 30 s when something changed and
//     on Close, and loads it on start, since minidyn keeps nothing on disk.
//
// minidyn is not safe for table-management calls running next to data calls, so those
// (and snapshots) take an exclusive lock; data calls share it.
type Dynamo struct {
	log  *slog.Logger
	opts options
	path string // snapshot file; empty means nothing is persisted

	inner  http.Handler
	mu     sync.RWMutex
	tables map[string]*tableMeta // guarded by mu

	gen      atomic.Uint64 // counts successful writes; unchanged data is not saved again
	saveMu   sync.Mutex
	savedGen uint64 // guarded by saveMu

	ln        net.Listener
	srv       *http.Server
	cancel    context.CancelFunc
	loops     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// tableMeta is what minidyn does not keep or report about a table.
type tableMeta struct {
	create  json.RawMessage   // the CreateTable request that made the table
	updates []json.RawMessage // UpdateTable requests since, replayed on restore
	ttl     string            // TTL attribute when TTL is enabled
	created time.Time
	keys    []string // primary key attribute names
}

// StartDynamo starts the local DynamoDB on a loopback port, loading the tables saved in
// dataDir (an empty dataDir keeps everything in memory). ctx bounds the start-up only;
// call Close to stop it.
func StartDynamo(ctx context.Context, dataDir string, log *slog.Logger, opts ...Option) (*Dynamo, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Dynamo{log: log.With("component", "local-dynamodb"), opts: defaults(opts), inner: server.NewServer(), tables: map[string]*tableMeta{}}
	if dataDir != "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("local dynamodb: %w", err)
		}
		d.path = filepath.Join(dataDir, SnapshotFile)
	}
	items, err := d.restore(ctx)
	if err != nil {
		return nil, fmt.Errorf("local dynamodb: %w", err)
	}
	ln, err := listenLoopback(d.opts.addr)
	if err != nil {
		return nil, fmt.Errorf("local dynamodb: %w", err)
	}
	d.ln = ln
	d.srv = serve(ln, d, d.log)
	loopCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.loops.Add(1)
	go d.loop(loopCtx)
	d.log.Info("local dynamodb started", "endpoint", d.Endpoint(), "tables", len(d.tables), "items", items, "persisted", d.path != "")
	return d, nil
}

// Endpoint is the base URL for SDK clients (BaseEndpoint) and aws --endpoint-url.
func (d *Dynamo) Endpoint() string { return "http://" + d.ln.Addr().String() }

// Close stops the periodic work and the server, then saves the data.
func (d *Dynamo) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		d.loops.Wait()
		err := shutdown(d.srv)
		d.closeErr = errors.Join(err, d.Snapshot(context.Background()))
	})
	return d.closeErr
}

func (d *Dynamo) loop(ctx context.Context) {
	defer d.loops.Done()
	sweep := time.NewTicker(d.opts.sweepEvery)
	defer sweep.Stop()
	save := time.NewTicker(d.opts.snapshotEvery)
	defer save.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			if n, err := d.Sweep(ctx); err != nil {
				d.log.Warn("ttl sweep failed", "err", err)
			} else if n > 0 {
				d.log.Debug("ttl sweep deleted expired items", "items", n)
			}
		case <-save.C:
			if err := d.Snapshot(ctx); err != nil {
				d.log.Warn("snapshot failed", "err", err)
			}
		}
	}
}

// ServeHTTP answers the DynamoDB JSON protocol (and GET / like DynamoDB's health check).
func (d *Dynamo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "healthy: dynamodb.local\n")
		return
	case http.MethodPost:
	default:
		writeDynamo(w, apiError(http.StatusMethodNotAllowed, "UnknownOperationException", "use POST"))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeDynamo(w, apiError(http.StatusRequestEntityTooLarge, "ValidationException", "request body too large or unreadable"))
		return
	}
	writeDynamo(w, d.dispatch(r.Context(), op, body))
}

// reply is a finished DynamoDB response.
type reply struct {
	status int
	body   []byte
}

func (r reply) ok() bool { return r.status == http.StatusOK }

func apiError(status int, typ, msg string) reply {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg})
	return reply{status: status, body: b}
}

func jsonReply(v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return apiError(http.StatusInternalServerError, "InternalServerError", "encode response")
	}
	return reply{status: http.StatusOK, body: b}
}

// writeDynamo sends a reply with the headers the SDK expects; X-Amz-Crc32 is what it
// validates the body against.
func writeDynamo(w http.ResponseWriter, r reply) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(r.body)), 10))
	h.Set("X-Amzn-Requestid", newID())
	h.Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

func (d *Dynamo) dispatch(ctx context.Context, op string, body []byte) reply {
	switch op {
	case "GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems":
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.forward(ctx, op, body)
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems":
		d.mu.RLock()
		defer d.mu.RUnlock()
		r := d.forward(ctx, op, body)
		if r.ok() {
			d.gen.Add(1)
		}
		return r
	case "CreateTable", "UpdateTable", "DeleteTable", "DescribeTable":
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.tableOp(ctx, op, body)
	case "ListTables":
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.listTables(body)
	case "UpdateTimeToLive":
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.updateTTL(body)
	case "DescribeTimeToLive":
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.describeTTL(body)
	}
	return apiError(http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("operation %q is not supported by the local DynamoDB", op))
}

// forward runs one request through minidyn in-process.
func (d *Dynamo) forward(ctx context.Context, op string, body []byte) reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return apiError(http.StatusInternalServerError, "InternalServerError", "build request")
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	rec := &bufferedResponse{header: http.Header{}}
	d.inner.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return reply{status: rec.status, body: rec.body.Bytes()}
}

// bufferedResponse collects a response so the wrapper can checksum and amend it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

type tableRequest struct {
	TableName string `json:"TableName"`
}

type createTableRequest struct {
	TableName            string          `json:"TableName"`
	AttributeDefinitions json.RawMessage `json:"AttributeDefinitions"`
	BillingMode          string          `json:"BillingMode"`
	KeySchema            []struct {
		AttributeName string `json:"AttributeName"`
	} `json:"KeySchema"`
}

// tableOp forwards a table-management call, keeps what minidyn forgets and fixes the
// description it returns. The caller holds the exclusive lock.
func (d *Dynamo) tableOp(ctx context.Context, op string, body []byte) reply {
	var in tableRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "SerializationException", "malformed request body")
	}
	r := d.forward(ctx, op, body)
	if !r.ok() {
		return r
	}
	field, status := "TableDescription", "ACTIVE"
	switch op {
	case "CreateTable":
		meta, err := newTableMeta(body, d.opts.now())
		if err != nil {
			return apiError(http.StatusBadRequest, "ValidationException", err.Error())
		}
		d.tables[in.TableName] = meta
		d.gen.Add(1)
	case "UpdateTable":
		if m := d.tables[in.TableName]; m != nil {
			m.updates = append(m.updates, slices.Clone(body))
		}
		d.gen.Add(1)
	case "DeleteTable":
		status = "DELETING"
		defer delete(d.tables, in.TableName)
		d.gen.Add(1)
	case "DescribeTable":
		field = "Table"
	}
	return d.fixDescription(r, field, in.TableName, status)
}

func newTableMeta(create []byte, now time.Time) (*tableMeta, error) {
	var in createTableRequest
	if err := json.Unmarshal(create, &in); err != nil {
		return nil, fmt.Errorf("malformed CreateTable request: %w", err)
	}
	m := &tableMeta{create: slices.Clone(create), created: now}
	for _, k := range in.KeySchema {
		m.keys = append(m.keys, k.AttributeName)
	}
	return m, nil
}

// fixDescription fills in what the SDK and its waiters look at: TableStatus (minidyn
// leaves it empty), the ARN, creation time, attribute definitions and billing mode.
func (d *Dynamo) fixDescription(r reply, field, table, status string) reply {
	var out map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &out); err != nil {
		return r
	}
	var desc map[string]json.RawMessage
	if err := json.Unmarshal(out[field], &desc); err != nil || desc == nil {
		return r
	}
	for k, v := range desc {
		if string(v) == "null" {
			delete(desc, k)
		}
	}
	set := func(k string, v any) {
		if b, err := json.Marshal(v); err == nil {
			desc[k] = b
		}
	}
	set("TableStatus", status)
	set("TableArn", "arn:aws:dynamodb:local:000000000000:table/"+table)
	if m := d.tables[table]; m != nil {
		set("CreationDateTime", float64(m.created.UnixMilli())/1000)
		var in createTableRequest
		if json.Unmarshal(m.create, &in) == nil {
			if len(in.AttributeDefinitions) > 0 {
				desc["AttributeDefinitions"] = in.AttributeDefinitions
			}
			mode := in.BillingMode
			if mode == "" {
				mode = "PROVISIONED"
			}
			set("BillingModeSummary", map[string]string{"BillingMode": mode})
		}
	}
	b, err := json.Marshal(desc)
	if err != nil {
		return r
	}
	out[field] = b
	return jsonReply(out)
}

func (d *Dynamo) listTables(body []byte) reply {
	var in struct {
		ExclusiveStartTableName string `json:"ExclusiveStartTableName"`
		Limit                   int    `json:"Limit"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "SerializationException", "malformed request body")
	}
	limit := in.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	names := slices.Sorted(maps.Keys(d.tables))
	if in.ExclusiveStartTableName != "" {
		i, _ := slices.BinarySearch(names, in.ExclusiveStartTableName)
		if i < len(names) && names[i] == in.ExclusiveStartTableName {
			i++
		}
		names = names[i:]
	}
	out := struct {
		TableNames             []string `json:"TableNames"`
		LastEvaluatedTableName string   `json:"LastEvaluatedTableName,omitempty"`
	}{TableNames: names}
	if len(names) > limit {
		out.TableNames = names[:limit]
		out.LastEvaluatedTableName = names[limit-1]
	}
	if out.TableNames == nil {
		out.TableNames = []string{}
	}
	return jsonReply(out)
}

type ttlSpec struct {
	AttributeName string `json:"AttributeName"`
	Enabled       *bool  `json:"Enabled"`
}

func (d *Dynamo) updateTTL(body []byte) reply {
	var in struct {
		TableName               string   `json:"TableName"`
		TimeToLiveSpecification *ttlSpec `json:"TimeToLiveSpecification"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "SerializationException", "malformed request body")
	}
	spec := in.TimeToLiveSpecification
	if spec == nil || spec.AttributeName == "" || spec.Enabled == nil {
		return apiError(http.StatusBadRequest, "ValidationException", "TimeToLiveSpecification needs AttributeName and Enabled")
	}
	m := d.tables[in.TableName]
	if m == nil {
		return apiError(http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+" not found")
	}
	switch {
	case *spec.Enabled && m.ttl != "":
		return apiError(http.StatusBadRequest, "ValidationException", "TimeToLive is already enabled")
	case !*spec.Enabled && m.ttl == "":
		return apiError(http.StatusBadRequest, "ValidationException", "TimeToLive is already disabled")
	case *spec.Enabled:
		m.ttl = spec.AttributeName
	default:
		m.ttl = ""
	}
	d.gen.Add(1)
	return jsonReply(map[string]any{"TimeToLiveSpecification": spec})
}

func (d *Dynamo) describeTTL(body []byte) reply {
	var in tableRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return apiError(http.StatusBadRequest, "SerializationException", "malformed request body")
	}
	m := d.tables[in.TableName]
	if m == nil {
		return apiError(http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Table: "+in.TableName+" not found")
	}
	desc := map[string]string{"TimeToLiveStatus": "DISABLED"}
	if m.ttl != "" {
		desc = map[string]string{"TimeToLiveStatus": "ENABLED", "AttributeName": m.ttl}
	}
	return jsonReply(map[string]any{"TimeToLiveDescription": desc})
}

// item is one item in DynamoDB's JSON wire form, kept raw so it round-trips exactly.
type item = map[string]json.RawMessage

// call runs one operation through minidyn with Go values in and out.
func (d *Dynamo) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", op, err)
	}
	r := d.forward(ctx, op, body)
	if !r.ok() {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(r.body, &e)
		return &opError{op: op, typ: e.Type[strings.LastIndexByte(e.Type, '#')+1:], msg: e.Message}
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			return fmt.Errorf("%s: decode: %w", op, err)
		}
	}
	return nil
}

type opError struct{ op, typ, msg string }

func (e *opError) Error() string { return e.op + ": " + e.typ + ": " + e.msg }

// scanAll reads every item of a table page by page.
func (d *Dynamo) scanAll(ctx context.Context, table string) ([]item, error) {
	var all []item
	var start item
	for {
		in := map[string]any{"TableName": table, "Limit": scanPageSize}
		if start != nil {
			in["ExclusiveStartKey"] = start
		}
		var out struct {
			Items            []item `json:"Items"`
			LastEvaluatedKey item   `json:"LastEvaluatedKey"`
		}
		if err := d.call(ctx, "Scan", in, &out); err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		all = append(all, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || len(out.Items) == 0 {
			return all, nil
		}
		start = out.LastEvaluatedKey
	}
}

// Sweep deletes the items whose TTL attribute is at or before now in every table with
// TTL enabled, as DynamoDB's background TTL process does, and returns how many it
// deleted. An item rewritten with a later ttl meanwhile is kept (conditional delete).
func (d *Dynamo) Sweep(ctx context.Context) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	now := d.opts.now()
	deleted := 0
	defer func() {
		if deleted > 0 {
			d.gen.Add(1)
		}
	}()
	for _, name := range slices.Sorted(maps.Keys(d.tables)) {
		m := d.tables[name]
		if m.ttl == "" {
			continue
		}
		items, err := d.scanAll(ctx, name)
		if err != nil {
			return deleted, fmt.Errorf("ttl sweep: %w", err)
		}
		for _, it := range items {
			if !expired(it, m.ttl, now) {
				continue
			}
			key := item{}
			for _, k := range m.keys {
				key[k] = it[k]
			}
			err := d.call(ctx, "DeleteItem", map[string]any{
				"TableName":                 name,
				"Key":                       key,
				"ConditionExpression":       "#ttl <= :now",
				"ExpressionAttributeNames":  map[string]string{"#ttl": m.ttl},
				"ExpressionAttributeValues": map[string]any{":now": map[string]string{"N": strconv.FormatInt(now.Unix(), 10)}},
			}, nil)
			var oe *opError
			if errors.As(err, &oe) && oe.typ == "ConditionalCheckFailedException" {
				continue
			}
			if err != nil {
				return deleted, fmt.Errorf("ttl sweep of %s: %w", name, err)
			}
			deleted++
		}
	}
	return deleted, nil
}

// expired applies DynamoDB's TTL rule: a Number attribute (epoch seconds) at or before
// now, but not more than five years in the past.
func expired(it item, attr string, now time.Time) bool {
	var v struct {
		N *string `json:"N"`
	}
	if raw, ok := it[attr]; !ok || json.Unmarshal(raw, &v) != nil || v.N == nil {
		return false
	}
	sec, err := strconv.ParseFloat(*v.N, 64)
	if err != nil {
		return false
	}
	return sec <= float64(now.Unix()) && sec > float64(now.Add(-ttlHorizon).Unix())
}

// snapshotFile is the on-disk form: per table the requests that built it and its items
// in DynamoDB's JSON wire form.
type snapshotFile struct {
	Version int             `json:"version"`
	SavedAt time.Time       `json:"saved_at"`
	Tables  []snapshotTable `json:"tables"`
}

type snapshotTable struct {
	Name         string            `json:"name"`
	Created      time.Time         `json:"created"`
	Create       json.RawMessage   `json:"create"`
	Updates      []json.RawMessage `json:"updates,omitempty"`
	TTLAttribute string            `json:"ttl_attribute,omitempty"`
	Items        []item            `json:"items"`
}

// Snapshot saves every table to the data directory if anything changed since the last
// save (atomically: temp file + rename). Without a data directory it does nothing.
func (d *Dynamo) Snapshot(ctx context.Context) error {
	if d.path == "" {
		return nil
	}
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	if d.gen.Load() == d.savedGen {
		return nil
	}
	snap, gen, err := d.collect(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("snapshot: encode: %w", err)
	}
	if err := WriteFileAtomic(d.path, data); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	d.savedGen = gen
	return nil
}

// collect reads every table under the exclusive lock, so the snapshot is one point in time.
func (d *Dynamo) collect(ctx context.Context) (snapshotFile, uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap := snapshotFile{Version: 1, SavedAt: d.opts.now().UTC(), Tables: []snapshotTable{}}
	for _, name := range slices.Sorted(maps.Keys(d.tables)) {
		m := d.tables[name]
		items, err := d.scanAll(ctx, name)
		if err != nil {
			return snap, 0, err
		}
		if items == nil {
			items = []item{}
		}
		snap.Tables = append(snap.Tables, snapshotTable{Name: name, Created: m.created, Create: m.create, Updates: m.updates, TTLAttribute: m.ttl, Items: items})
	}
	return snap, d.gen.Load(), nil
}

// restore loads the snapshot, if there is one, and returns how many items it loaded. A
// damaged file stops the start rather than silently starting empty.
func (d *Dynamo) restore(ctx context.Context) (int, error) {
	if d.path == "" {
		return 0, nil
	}
	data, err := os.ReadFile(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read snapshot: %w", err)
	}
	var snap snapshotFile
	if err := json.Unmarshal(data, &snap); err != nil {
		return 0, fmt.Errorf("read snapshot %s (move it away to start empty): %w", d.path, err)
	}
	if snap.Version != 1 {
		return 0, fmt.Errorf("read snapshot %s: unknown version %d", d.path, snap.Version)
	}
	n := 0
	for _, t := range snap.Tables {
		if err := d.call(ctx, "CreateTable", t.Create, nil); err != nil {
			return n, fmt.Errorf("restore table %s: %w", t.Name, err)
		}
		meta, err := newTableMeta(t.Create, t.Created)
		if err != nil {
			return n, fmt.Errorf("restore table %s: %w", t.Name, err)
		}
		for _, u := range t.Updates {
			if err := d.call(ctx, "UpdateTable", u, nil); err != nil {
				return n, fmt.Errorf("restore table %s: %w", t.Name, err)
			}
		}
		meta.updates, meta.ttl = t.Updates, t.TTLAttribute
		d.tables[t.Name] = meta
		for _, it := range t.Items {
			if err := d.call(ctx, "PutItem", map[string]any{"TableName": t.Name, "Item": it}, nil); err != nil {
				return n, fmt.Errorf("restore table %s: %w", t.Name, err)
			}
			n++
		}
	}
	return n, nil
}
