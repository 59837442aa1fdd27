package broker

import (
	"embed"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/scsp/wssec/devca"
)

// devExamples are the example requests a development node writes, one for
// each certificate of the catalog's services, signed by nobody yet:
// devscsp/envelope.xml.tmpl is the SOAP envelope with its WS-Security
// header to fill in, devscsp/<CODE>.xml the Peticion of each certificate,
// from the Ajuntament de Barcelona, procedure DEMO. DevSCSPCommandsFor
// fills in the Timestamp and signs one with xmlsec1.
//
//go:embed devscsp
var devExamples embed.FS

// DevSCSPCertificates are the certificate codes a development node writes
// an example request for, peticion-<CODE>.xml in DataDir/scsp.
var DevSCSPCertificates = []string{"SVDSECOPA01WS01", "SVDTUWS03", "SVDTNUWS03", "SVDSCDDWS01", "SVDSCTFNWS01", "Q2827002CINSS001"}

// The development node's SCSP material, in DataDir/scsp.
const (
	devSCSPDir   = "scsp"
	devNodeName  = "Pont development node"
	devNodeNIF   = "S0800000J"
	devRequester = "P0801900B"
)

// devSCSP opens the SCSP door of a development node: a development CA in
// dataDir/scsp (kept across restarts), a seal certificate for every
// organisation of the catalog's authorisations and one for the node, and
// an example request of the Ajuntament de Barcelona for every certificate
// of DevSCSPCertificates, ready to be signed.
func devSCSP(dataDir string, cat *catalog.Catalog) (*api.SCSPDoor, error) {
	dir := filepath.Join(dataDir, devSCSPDir)
	ca, err := devca.OpenCA(dir)
	if err != nil {
		return nil, fmt.Errorf("broker: development CA: %w", err)
	}
	node, err := ca.Open(devNodeName, devNodeNIF)
	if err != nil {
		return nil, fmt.Errorf("broker: development node certificate: %w", err)
	}
	orgs := make([]string, 0, len(cat.Authorisations))
	for org := range cat.Authorisations {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	for _, org := range orgs {
		leaf, err := ca.Open(cat.Authorisations[org].Name, org)
		if err != nil {
			return nil, fmt.Errorf("broker: development certificate of %s: %w", org, err)
		}
		if org == devRequester {
			if err := writeDevExamples(dir, base64.StdEncoding.EncodeToString(leaf.Cert.Raw)); err != nil {
				return nil, err
			}
		}
	}
	return &api.SCSPDoor{Roots: ca.Pool(), Cert: node.Cert, Key: node.Key}, nil
}

// writeDevExamples writes the example request of every certificate into
// dir, carrying the requester's certificate token.
func writeDevExamples(dir, token string) error {
	envelope, err := devExamples.ReadFile("devscsp/envelope.xml.tmpl")
	if err != nil {
		return fmt.Errorf("broker: development requests: %w", err)
	}
	for _, code := range DevSCSPCertificates {
		peticion, err := devExamples.ReadFile("devscsp/" + code + ".xml")
		if err != nil {
			return fmt.Errorf("broker: development request %s: %w", code, err)
		}
		doc := strings.NewReplacer("{{.Token}}", token, "{{.Peticion}}", string(peticion)).Replace(string(envelope))
		if err := os.WriteFile(filepath.Join(dir, devPeticionFile(code)), []byte(doc), 0o600); err != nil {
			return fmt.Errorf("broker: development request %s: %w", code, err)
		}
	}
	return nil
}

func devPeticionFile(code string) string { return "peticion-" + code + ".xml" }

// DevSCSPCommands answers the shell commands that sign the development
// residence request of a node whose data directory is dataDir (as the
// command line names it) as the Ajuntament de Barcelona, with xmlsec1, and
// send it to the node at base.
func DevSCSPCommands(dataDir, base string) string {
	return DevSCSPCommandsFor(dataDir, base, "SVDSECOPA01WS01")
}

// DevSCSPCommandsFor is DevSCSPCommands for the example request of the
// certificate code, one of DevSCSPCertificates. Each run gives the request
// an IdPeticion of its own (the time in milliseconds): the door answers a
// repeated one with 0229.
func DevSCSPCommandsFor(dataDir, base, code string) string {
	dir := filepath.Join(dataDir, devSCSPDir)
	key := filepath.Join(dir, "ajuntament-de-barcelona-key.pem")
	cert := filepath.Join(dir, "ajuntament-de-barcelona.pem")
	var ids []string
	for i, f := range devca.IDAttrFlags() {
		if i%2 == 1 {
			ids = append(ids, "--id-attr:Id "+f)
		}
	}
	return fmt.Sprintf(`sed -e "s/CREATED/$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)/" -e "s/EXPIRES/$(date -u -d '+5 minutes' +%%Y-%%m-%%dT%%H:%%M:%%SZ)/" \
  -e "s/PONT-DEV-0000000001/PONT-DEV-$(date +%%s%%N | cut -c1-13)/" %s > peticion.xml
xmlsec1 --sign --privkey-pem %s,%s \
  %s \
  --output peticion-signed.xml peticion.xml
curl -s -X POST %s/scsp/v3/%s -H 'Content-Type: text/xml; charset=utf-8' --data-binary @peticion-signed.xml
`, filepath.Join(dir, devPeticionFile(code)), key, cert, strings.Join(ids, " \\\n  "), base, code)
}
