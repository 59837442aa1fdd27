package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/plugins"
	"github.com/pontexchange/pont/policies"
)

func runAdapterBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont adapter build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "bin/adapters", "output directory of the .wasm modules")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	paths, err := plugins.Build(ctx, *out)
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(stdout, p)
	}
	return nil
}

func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, "usage: pont policy test")
		return errUsage
	}
	passed, failed, report, err := policy.RunTests(ctx, policies.FS, nil)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, report)
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d Rego tests failed", failed)
	}
	return nil
}

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "requester, citizen, auditor or publisher")
	org := fs.String("org", "", "the requesting organisation's NIF (requester)")
	sub := fs.String("sub", "", "the subject: a citizen's DNI/NIE, or a user id")
	owner := fs.String("owner", "", "the data owner's id (publisher)")
	data := fs.String("data", "./.pont-dev", "data directory of pont dev (holds the development key)")
	ttl := fs.Duration("ttl", 0, "lifetime (default: the role's default maximum, 1h for a citizen and 12h for the others, which pont serve accepts unless configured otherwise)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *ttl == 0 {
		*ttl = min(auth.DefaultMaxLifetime(auth.Role(*role)), auth.DevMaxLifetime)
		if *ttl == 0 { // an unknown role, which Mint refuses by name
			*ttl = auth.DevMaxLifetime
		}
	}
	iss, err := auth.NewDevIssuer(*data)
	if err != nil {
		return err
	}
	token, err := iss.Mint(auth.Principal{Role: auth.Role(*role), Org: *org, Sub: *sub, Owner: *owner}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}
