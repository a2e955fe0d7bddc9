// The payments ledger as a Go black box, written from docs/black-box.md and docs/envelope.md
// alone (amqp091-go and lib/pq, Debian's packages; no harness code). It posts a debit and a
// credit per authorized payment, once, keyed by the effect key the docs derive.
// LEDGER_BUG=fresh-key plants a bug: a fresh key per delivery, so a redelivery posts again.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o ledger ledger.go
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq"
	amqp "github.com/rabbitmq/amqp091-go"
)

func deriveID(length int, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(sum[:])[:length]
}

type Producer struct {
	Agent   string `json:"agent"`
	Version string `json:"version"`
}
type Trace struct {
	Traceparent string `json:"traceparent"`
	Tracestate  string `json:"tracestate"`
}
type Envelope struct {
	Envelope       int             `json:"envelope"`
	MessageID      string          `json:"message_id"`
	CorrelationID  string          `json:"correlation_id"`
	CausationID    *string         `json:"causation_id"`
	Type           string          `json:"type"`
	SchemaVersion  int             `json:"schema_version"`
	IdempotencyKey string          `json:"idempotency_key"`
	Producer       Producer        `json:"producer"`
	ProducedAt     string          `json:"produced_at"`
	Trace          Trace           `json:"trace"`
	Payload        json.RawMessage `json:"payload"`
}

type Authorized struct {
	PaymentID         string `json:"payment_id"`
	AmountCents       int64  `json:"amount_cents"`
	Currency          string `json:"currency"`
	CustomerID        string `json:"customer_id"`
	MerchantID        string `json:"merchant_id"`
	AuthorizationCode string `json:"authorization_code"`
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		log.Fatalf("%s is not set", name)
	}
	return v
}

func child(parent *Envelope, agent, typ string, index int, payload interface{}) ([]byte, error) {
	step := fmt.Sprintf("%s:%s:%d", agent, typ, index)
	tp := strings.Split(parent.Trace.Traceparent, "-")
	if len(tp) != 4 {
		return nil, fmt.Errorf("bad traceparent")
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	cause := parent.MessageID
	out := Envelope{
		Envelope: 1, MessageID: deriveID(32, "msg", parent.MessageID, step),
		CorrelationID: parent.CorrelationID, CausationID: &cause, Type: typ, SchemaVersion: 1,
		IdempotencyKey: deriveID(32, "idem", parent.IdempotencyKey, step),
		Producer:       Producer{agent, "go-1"},
		ProducedAt:     time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		Trace: Trace{fmt.Sprintf("00-%s-%s-%s", tp[1], deriveID(16, "span", tp[1], step), tp[3]),
			parent.Trace.Tracestate},
		Payload: body,
	}
	return json.Marshal(out)
}

func valid(in *Envelope, p *Authorized) bool {
	if in.Type != "payment.authorized" || in.SchemaVersion != 1 || in.MessageID == "" ||
		in.CorrelationID == "" || in.IdempotencyKey == "" || len(in.Payload) == 0 {
		return false
	}
	if err := json.Unmarshal(in.Payload, p); err != nil {
		return false
	}
	return p.PaymentID != "" && p.AmountCents > 0 && p.CustomerID != "" && p.MerchantID != "" &&
		p.AuthorizationCode != "" && (p.Currency == "EUR" || p.Currency == "USD" || p.Currency == "GBP")
}

func main() {
	agent := mustEnv("HARNESS_AGENT")
	bug := os.Getenv("LEDGER_BUG")
	dsn := mustEnv("HARNESS_DATABASE_URL")
	if !strings.Contains(dsn, "sslmode=") { // docs: lib/pq defaults to TLS; the local server has none
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "sslmode=disable"
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1) // search_path is per connection
	schema := mustEnv("HARNESS_DATABASE_SCHEMA")
	if _, err := db.Exec(fmt.Sprintf(`SET search_path TO "%s"`, strings.ReplaceAll(schema, `"`, ""))); err != nil {
		log.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS effects (key text PRIMARY KEY, correlation_id text NOT NULL, effect text NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS postings (key text NOT NULL, account text NOT NULL, debit bigint NOT NULL, credit bigint NOT NULL)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			log.Fatal(err)
		}
	}
	conn, err := amqp.Dial(mustEnv("HARNESS_BROKER_URL"))
	if err != nil {
		log.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		log.Fatal(err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1))
	if err := ch.Qos(4, 0, false); err != nil {
		log.Fatal(err)
	}
	deliveries, err := ch.Consume(mustEnv("HARNESS_QUEUE"), "", false, false, false, false, nil)
	if err != nil {
		log.Fatal(err)
	}
	exchange := mustEnv("HARNESS_EXCHANGE")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	for {
		select {
		case <-stop:
			conn.Close()
			return
		case e := <-closed:
			log.Fatalf("broker connection closed: %v", e)
		case d, ok := <-deliveries:
			if !ok {
				log.Fatal("deliveries closed")
			}
			var in Envelope
			var p Authorized
			if err := json.Unmarshal(d.Body, &in); err != nil || !valid(&in, &p) {
				log.Printf("rejected %q: not a payment.authorized@1 envelope", in.MessageID)
				d.Reject(false)
				continue
			}
			key := deriveID(32, "effect", in.IdempotencyKey, agent, "ledger.post")
			if bug == "fresh-key" {
				b := make([]byte, 16)
				rand.Read(b)
				key = hex.EncodeToString(b)
			}
			tx, err := db.Begin()
			if err != nil {
				log.Fatal(err)
			}
			res, err := tx.Exec(`INSERT INTO effects VALUES ($1, $2, 'ledger.post') ON CONFLICT (key) DO NOTHING`, key, in.CorrelationID)
			if err != nil {
				log.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				if _, err := tx.Exec(`INSERT INTO postings VALUES ($1, $2, $3, 0), ($1, $4, 0, $3)`,
					key, "customer:"+p.CustomerID, p.AmountCents, "merchant:"+p.MerchantID); err != nil {
					log.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				log.Fatal(err)
			}
			out, err := child(&in, agent, "ledger.posted", 0, map[string]interface{}{
				"payment_id": p.PaymentID, "amount_cents": p.AmountCents, "currency": p.Currency,
				"customer_id": p.CustomerID, "merchant_id": p.MerchantID, "entries": 2,
				"authorization_code": p.AuthorizationCode})
			if err != nil {
				log.Fatal(err)
			}
			if err := ch.Publish(exchange, "ledger.posted", false, false, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: out}); err != nil {
				log.Fatal(err)
			}
			if c := <-confirms; !c.Ack {
				log.Fatal("publish not confirmed")
			}
			d.Ack(false)
		}
	}
}
