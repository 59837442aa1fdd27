package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pontexchange/pont/exchange/witness"
)

const witnessUsage = `usage: pont witness [--config FILE] [--listen HOST:PORT] [--key FILE] [--state FILE] [--log ORIGIN=VKEY]...

Serves c2sp.org/tlog-witness (POST /add-checkpoint): cosigns a log's
checkpoint only if it is consistent with the last one this witness cosigned
for that log, remembered in the state file. --key is the witness's private
key (pont keygen --witness); publish its PREFIX.vkey. Each --log names a log
by its checkpoints' origin and one of its keys (the log's PREFIX.vkey); give
an origin twice for two keys. The flags override, or add to, the file's
listen, key_file, state_file and logs. It stops on SIGTERM or SIGINT.

`

// witnessConfig is the configuration file of pont witness (JSON).
// Relative paths are relative to the file.
type witnessConfig struct {
	Listen    string `json:"listen"`
	KeyFile   string `json:"key_file"`
	StateFile string `json:"state_file"`
	Logs      []struct {
		Origin string   `json:"origin"`
		Keys   []string `json:"keys"`
	} `json:"logs"`
	LogLevel string `json:"log_level"`
}

func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, witnessUsage); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file (JSON): listen, key_file, state_file, logs [{origin, keys}], log_level")
	listen := fs.String("listen", "", "listen address (default 127.0.0.1:8070)")
	keyFile := fs.String("key", "", "the witness's private key file (pont keygen --witness)")
	stateFile := fs.String("state", "", "the state file: what the witness last cosigned, per log")
	var logFlags []witness.Log
	fs.Func("log", "a log to cosign: ORIGIN=VKEY, its checkpoints' origin and a key of the log (repeatable)", func(v string) error {
		origin, key, ok := strings.Cut(v, "=")
		if !ok || origin == "" || key == "" {
			return fmt.Errorf("%q is not ORIGIN=VKEY", v)
		}
		logFlags = append(logFlags, witness.Log{Origin: origin, Keys: []string{key}})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadWitnessConfig(*configPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *keyFile != "" {
		cfg.KeyFile = *keyFile
	}
	if *stateFile != "" {
		cfg.StateFile = *stateFile
	}
	logs := witnessLogs(cfg, logFlags)
	switch {
	case cfg.KeyFile == "":
		return errors.New("no key: give --key or key_file (pont keygen --witness writes one)")
	case cfg.StateFile == "":
		return errors.New("no state file: give --state or state_file")
	case len(logs) == 0:
		return errors.New("no log to cosign: give --log ORIGIN=VKEY or logs")
	}
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); cfg.LogLevel != "" && err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	log := newLogger(stderr, level)

	key, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if fi, err := os.Stat(cfg.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the witness's private key file is readable by others than its owner", slog.String("file", cfg.KeyFile), slog.String("mode", fi.Mode().Perm().String()))
	}
	if _, err := witness.NewSigner(string(key)); err != nil {
		return fmt.Errorf("key %s: %w", cfg.KeyFile, err)
	}
	w, err := witness.New(witness.Config{Key: string(key), StatePath: cfg.StateFile, Logs: logs, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		w.Close()
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           w,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shutdown := make(chan struct{})
	go func() {
		defer close(shutdown)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()

	origins := make([]string, len(logs))
	for i, l := range logs {
		origins[i] = l.Origin
	}
	log.Info("pont witness ready", slog.String("addr", ln.Addr().String()), slog.String("name", w.Name()), slog.Any("logs", origins), slog.String("state", cfg.StateFile))
	fmt.Fprintf(stdout, "Witness %s cosigns with the key %s\n", w.Name(), w.VerifierKey())
	fmt.Fprintf(stdout, "Pont witness is serving on http://%s\n", ln.Addr())
	err = srv.Serve(ln)
	cancel()
	<-shutdown // requests under way have ended, or the timeout passed
	if cerr := w.Close(); err == nil || errors.Is(err, http.ErrServerClosed) {
		err = cerr
	}
	log.Info("pont witness stopped")
	return err
}

// witnessLogs merges the file's logs and the --log flags, one Log per
// origin, its keys in the order given.
func witnessLogs(cfg witnessConfig, flags []witness.Log) []witness.Log {
	var logs []witness.Log
	index := map[string]int{}
	add := func(origin string, keys []string) {
		i, ok := index[origin]
		if !ok {
			i = len(logs)
			index[origin] = i
			logs = append(logs, witness.Log{Origin: origin})
		}
		logs[i].Keys = append(logs[i].Keys, keys...)
	}
	for _, l := range cfg.Logs {
		add(l.Origin, l.Keys)
	}
	for _, l := range flags {
		add(l.Origin, l.Keys)
	}
	return logs
}

// loadWitnessConfig reads the file at path (if any) over the defaults.
func loadWitnessConfig(path string) (witnessConfig, error) {
	cfg := witnessConfig{Listen: "127.0.0.1:8070"}
	if path == "" {
		return cfg, nil
	}
	if err := decodeConfigFile(path, &cfg); err != nil {
		return cfg, err
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&cfg.KeyFile, &cfg.StateFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return cfg, nil
}
