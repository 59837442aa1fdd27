package broker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/pontexchange/pont/exchange/jobs"
	"github.com/pontexchange/pont/exchange/pipeline"
)

// startJobs starts the node's share of the asynchronous queries: its
// queue in the store's database, its workers and its sweep.
func (b *Broker) startJobs(ctx context.Context, pipe *pipeline.Pipeline) (*jobs.Runner, *jobs.Notifier, error) {
	cfg := b.cfg.Jobs
	queue, closeQueue, err := jobs.QueueFor(ctx, b.store)
	if err != nil {
		return nil, nil, fmt.Errorf("broker: %w", err)
	}
	b.closers = append(b.closers, func(context.Context) error { return closeQueue() })
	key, keyID := cfg.CallbackKey, cfg.CallbackKeyID
	if key == nil && b.devIss != nil {
		if key, err = devCallbackKey(b.cfg.DataDir); err != nil {
			return nil, nil, err
		}
		keyID = "pont-dev-callbacks"
	}
	var notifier *jobs.Notifier
	if key != nil {
		if keyID == "" {
			return nil, nil, errors.New("broker: the callback key needs an id (CallbackKeyID)")
		}
		notifier = jobs.NewNotifier(key, keyID)
	}
	runner, err := jobs.New(jobs.Config{
		Store: b.store, Pipeline: pipe, Queue: queue, Node: b.cfg.Node,
		Workers: cfg.Workers, PerSource: cfg.PerSource, PerOrganisation: cfg.PerOrganisation, ChunkSize: cfg.ChunkSize,
		RetainFor: cfg.RetainFor, ChunkTimeout: cfg.ChunkTimeout, RescueAfter: cfg.RescueAfter, SweepEvery: cfg.SweepEvery,
		Notifier: notifier, Logger: b.log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("broker: %w", err)
	}
	if err := runner.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("broker: %w", err)
	}
	b.closers = append(b.closers, func(ctx context.Context) error {
		// Chunks in hand get a few seconds to end; what they leave is
		// resumed by the next attempt, on this node or another.
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return runner.Stop(stopCtx)
	})
	return runner, notifier, nil
}

// devCallbackKey reads or makes a development node's callback key in
// dataDir (PKCS #8 PEM).
func devCallbackKey(dataDir string) (ed25519.PrivateKey, error) {
	raw, err := devFile(dataDir, "callback.key", func() ([]byte, error) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, fmt.Errorf("broker: callback key: %w", err)
	}
	return ParseCallbackKey(raw)
}

// ParseCallbackKey reads an Ed25519 private key in PKCS #8 PEM, as
// openssl genpkey -algorithm ed25519 writes it.
func ParseCallbackKey(raw []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("broker: callback key: not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("broker: callback key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("broker: callback key: a %T, not an Ed25519 key", k)
	}
	return ek, nil
}
