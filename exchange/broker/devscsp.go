package broker

import (
	_ "embed"
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

// devPeticion is the residence request that a development node writes,
// signed by nobody yet: DevSCSPCommands fills in its Timestamp and signs it
// with xmlsec1 as the Ajuntament de Barcelona.
//
//go:embed devscsp-peticion.xml.tmpl
var devPeticion string

// The development node's SCSP material, in DataDir/scsp.
const (
	devSCSPDir      = "scsp"
	devNodeName     = "Pont development node"
	devNodeNIF      = "S0800000J"
	devPeticionFile = "peticion-SVDSECOPA01WS01.xml"
	devRequester    = "P0801900B"
)

// devSCSP opens the SCSP door of a development node: a development CA in
// dataDir/scsp (kept across restarts), a seal certificate for every
// organisation of the catalog's authorisations and one for the node, and
// a residence request of the Ajuntament de Barcelona ready to be signed.
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
			token := base64.StdEncoding.EncodeToString(leaf.Cert.Raw)
			doc := strings.Replace(devPeticion, "{{.Token}}", token, 1)
			if err := os.WriteFile(filepath.Join(dir, devPeticionFile), []byte(doc), 0o600); err != nil {
				return nil, fmt.Errorf("broker: development request: %w", err)
			}
		}
	}
	return &api.SCSPDoor{Roots: ca.Pool(), Cert: node.Cert, Key: node.Key}, nil
}

// DevSCSPCommands answers the shell commands that sign the development
// request of a node whose data directory is dataDir (as the command line
// names it) as the Ajuntament de Barcelona, with xmlsec1, and send it to
// the node at base. Each run gives the request an IdPeticion of its own
// (the time in milliseconds): the door answers a repeated one with 0229.
func DevSCSPCommands(dataDir, base string) string {
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
curl -s -X POST %s/scsp/v3/SVDSECOPA01WS01 -H 'Content-Type: text/xml; charset=utf-8' --data-binary @peticion-signed.xml
`, filepath.Join(dir, devPeticionFile), key, cert, strings.Join(ids, " \\\n  "), base)
}
