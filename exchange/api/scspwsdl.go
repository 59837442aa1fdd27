package api

import (
	"bytes"
	"encoding/xml"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/scsp"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
)

// nsWSDL is the target namespace of the SCSP v3 WSDLs the intermediation
// platform publishes; Pont's WSDLs keep it, and the names of its messages,
// operations and faults, so that a client generated from either is the same.
const nsWSDL = "http://intermediacion.redsara.es/scsp/wsdl"

// The files of a certificate's schemas the WSDL's types import, in the
// order the platform's WSDLs import them; the asynchronous mode's two only
// for a certificate published with them.
const (
	xsdDatosEspecificos = "datos-especificos.xsd"
	xsdPeticion         = "peticion.xsd"
	xsdRespuesta        = "respuesta.xsd"
	xsdFaultAtributos   = "soapfaultatributos.xsd"
	xsdConfirmacion     = "confirmacion-peticion.xsd"
	xsdSolicitud        = "solicitud-respuesta.xsd"
)

// wsdlImport is one xsd:import of the WSDL's types.
type wsdlImport struct {
	Namespace, Location string
}

// wsdlData fills wsdlTemplate. Every string is already XML-escaped.
type wsdlData struct {
	NSWSDL, NSPeticion, NSRespuesta, NSFaultAtributos string
	NSConfirmacion, NSSolicitud                       string
	Code                                              string
	Address                                           string
	Imports                                           []wsdlImport
	// Fault: the certificate has soapfaultatributos.xsd, whose Atributos
	// is the detail of the door's faults.
	Fault bool
	// Async: the node serves the certificate's asynchronous mode
	// (peticionAsincrona, solicitudRespuesta).
	Async bool
	// Operations are the operations served, in the WSDL's order.
	Operations []wsdlOperation
}

// wsdlOperation is one operation and its messages.
type wsdlOperation struct{ Name, Input, Output string }

// wsdlTemplate is a WSDL 1.1 document with a SOAP 1.1 document/literal
// binding of the operations the door serves: peticionSincrona, and for a
// certificate with an asynchronous mode peticionAsincrona and
// solicitudRespuesta. The SOAPAction of each is its name.
var wsdlTemplate = template.Must(template.New("wsdl").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{{.NSWSDL}}" xmlns:pet="{{.NSPeticion}}" xmlns:resp="{{.NSRespuesta}}"{{if .Async}} xmlns:conf="{{.NSConfirmacion}}" xmlns:sr="{{.NSSolicitud}}"{{end}}{{if .Fault}} xmlns:sf="{{.NSFaultAtributos}}"{{end}} targetNamespace="{{.NSWSDL}}">
  <wsdl:documentation>SCSP v3 certificate {{.Code}}, {{if .Async}}synchronous and asynchronous requests{{else}}synchronous requests only{{end}}, served by Pont. A Peticion is signed with WS-Security (an X.509 signature over the Body and the Timestamp); the node signs its Respuesta the same way.</wsdl:documentation>
  <wsdl:types>
    <xsd:schema>
{{- range .Imports}}
      <xsd:import namespace="{{.Namespace}}" schemaLocation="{{.Location}}"/>
{{- end}}
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="peticionMessage">
    <wsdl:part name="Peticion" element="pet:Peticion"/>
  </wsdl:message>
  <wsdl:message name="respuestaMessage">
    <wsdl:part name="Respuesta" element="resp:Respuesta"/>
  </wsdl:message>
{{- if .Async}}
  <wsdl:message name="confirmacionPeticionMessage">
    <wsdl:part name="ConfirmacionPeticion" element="conf:ConfirmacionPeticion"/>
  </wsdl:message>
  <wsdl:message name="solicitudRespuestaMessage">
    <wsdl:part name="SolicitudRespuesta" element="sr:SolicitudRespuesta"/>
  </wsdl:message>
{{- end}}
{{- if .Fault}}
  <wsdl:message name="faultSCSPMessage">
    <wsdl:part name="fault" element="sf:Atributos"/>
  </wsdl:message>
{{- end}}
  <wsdl:portType name="{{.Code}}Port">
{{- range .Operations}}
    <wsdl:operation name="{{.Name}}">
      <wsdl:input message="tns:{{.Input}}"/>
      <wsdl:output message="tns:{{.Output}}"/>
{{- if $.Fault}}
      <wsdl:fault name="FaultSCSP" message="tns:faultSCSPMessage"/>
{{- end}}
    </wsdl:operation>
{{- end}}
  </wsdl:portType>
  <wsdl:binding name="{{.Code}}Binding" type="tns:{{.Code}}Port">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{{- range .Operations}}
    <wsdl:operation name="{{.Name}}">
      <soap:operation soapAction="{{.Name}}" style="document"/>
      <wsdl:input>
        <soap:body use="literal"/>
      </wsdl:input>
      <wsdl:output>
        <soap:body use="literal"/>
      </wsdl:output>
{{- if $.Fault}}
      <wsdl:fault name="FaultSCSP">
        <soap:fault name="FaultSCSP" use="literal"/>
      </wsdl:fault>
{{- end}}
    </wsdl:operation>
{{- end}}
  </wsdl:binding>
  <wsdl:service name="{{.Code}}">
    <wsdl:port name="{{.Code}}" binding="tns:{{.Code}}Binding">
      <soap:address location="{{.Address}}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`))

// scspSchemaDir is the folder of schemas.FS holding the schemas of a
// certificate a catalog service answers, or false. The door reads the
// older revision, the one every certificate of the catalog is published in.
func (s *server) scspSchemaDir(code string) (string, bool) {
	if s.serviceOfCertificate(code) == "" {
		return "", false
	}
	dir, err := schemas.Files(code, schemas.Older)
	return dir, err == nil
}

// scspSchemaFiles lists the XSD files of dir, a certificate's folder: only
// these are served under the endpoint's schemas/.
func scspSchemaFiles(dir string) map[string]bool {
	entries, err := fs.ReadDir(schemas.FS, dir)
	if err != nil {
		return nil
	}
	files := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".xsd") {
			files[e.Name()] = true
		}
	}
	return files
}

// scspWSDL answers GET /scsp/v3/{code}?wsdl: the endpoint's WSDL, whose
// types import the certificate's schemas from the endpoint's schemas/ and
// whose address is the endpoint's own URL. A GET without ?wsdl is refused
// as before the WSDL was served.
func (s *server) scspWSDL(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.RawQuery, "wsdl") {
		w.Header().Set("Allow", http.MethodPost)
		writeProblem(w, r, s.log, fault.New(fault.MethodNotAllowed, "GET is allowed on this path only as ?wsdl"))
		return
	}
	code := chi.URLParam(r, "code")
	dir, ok := s.scspSchemaDir(code)
	if !ok {
		err := fault.New(fault.UnknownService, "no service of this node answers certificate %q (GET /v1/catalog/services lists them)", fault.SafeText(code))
		writeSOAP(w, http.StatusNotFound, scsp.Fault(err, scsp.Atributos{}, time.Now()))
		return
	}
	if r.Host == "" {
		err := fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "Host", Message: "is required: the WSDL names the endpoint's URL"})
		writeSOAP(w, http.StatusBadRequest, scsp.Fault(err, scsp.Atributos{}, time.Now()))
		return
	}
	endpoint := (&url.URL{Scheme: requestScheme(r), Host: r.Host, Path: "/scsp/v3/" + code}).String()
	files := scspSchemaFiles(dir)
	d := wsdlData{
		NSWSDL:           xmlEscape(nsWSDL),
		NSPeticion:       xmlEscape(scsp.NSPeticion),
		NSRespuesta:      xmlEscape(scsp.NSRespuesta),
		NSFaultAtributos: xmlEscape(scsp.NSFaultAtributos),
		Code:             xmlEscape(code),
		Address:          xmlEscape(endpoint),
		NSConfirmacion:   xmlEscape(scsp.NSConfirmacionPeticion),
		NSSolicitud:      xmlEscape(scsp.NSSolicitudRespuesta),
		Fault:            files[xsdFaultAtributos],
		Async:            s.cfg.Jobs != nil && scspAsyncCertificate(code),
		Operations:       []wsdlOperation{{scsp.OpSync, "peticionMessage", "respuestaMessage"}},
	}
	imports := []struct{ ns, file string }{
		{scsp.NSDatosEspecificos, xsdDatosEspecificos},
		{scsp.NSPeticion, xsdPeticion},
		{scsp.NSRespuesta, xsdRespuesta},
		{scsp.NSFaultAtributos, xsdFaultAtributos},
	}
	if d.Async {
		d.Operations = append(d.Operations, wsdlOperation{scsp.OpAsync, "peticionMessage", "confirmacionPeticionMessage"}, wsdlOperation{scsp.OpFetch, "solicitudRespuestaMessage", "respuestaMessage"})
		imports = append(imports, struct{ ns, file string }{scsp.NSConfirmacionPeticion, xsdConfirmacion}, struct{ ns, file string }{scsp.NSSolicitudRespuesta, xsdSolicitud})
	}
	for _, imp := range imports {
		if files[imp.file] {
			d.Imports = append(d.Imports, wsdlImport{Namespace: xmlEscape(imp.ns), Location: xmlEscape(endpoint + "/schemas/" + imp.file)})
		}
	}
	var b bytes.Buffer
	if err := wsdlTemplate.Execute(&b, d); err != nil {
		// The template and its data are fixed strings.
		panic("api: wsdl template: " + err.Error())
	}
	// The document depends on the Host and X-Forwarded-Proto headers.
	w.Header().Set("Vary", "Host, X-Forwarded-Proto")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// scspSchema answers GET /scsp/v3/{code}/schemas/{file}: one of the
// certificate's published XSD files, byte for byte. Only the names listed
// in the certificate's own folder are served: the name is looked up, never
// joined onto a path first.
func (s *server) scspSchema(w http.ResponseWriter, r *http.Request) {
	code, file := chi.URLParam(r, "code"), chi.URLParam(r, "file")
	dir, ok := s.scspSchemaDir(code)
	if !ok || !scspSchemaFiles(dir)[file] {
		writeProblem(w, r, s.log, notFound("no schema %q for certificate %q on this node", fault.SafeText(file), fault.SafeText(code)))
		return
	}
	b, err := fs.ReadFile(schemas.FS, path.Join(dir, file))
	if err != nil {
		writeProblem(w, r, s.log, fault.Wrap(fault.Internal, err, "the schema could not be read"))
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(b)
}

// requestScheme is the scheme the client used to reach the node: https
// when the node terminates TLS itself, otherwise the X-Forwarded-Proto of a
// TLS-terminating proxy in front of it ("http" or "https" only), since
// `pont serve` listens in plain HTTP and is deployed behind one. The
// header is no more trusted than Host: both only shape the URLs of the
// WSDL answered to the caller who sent them.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	// A chain of proxies lists the schemes it saw; the first is the client's.
	first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	if p := strings.ToLower(strings.TrimSpace(first)); p == "https" || p == "http" {
		return p
	}
	return "http"
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
