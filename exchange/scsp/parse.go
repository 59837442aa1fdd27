package scsp

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of what ParsePeticion reads; the size of the body is the caller's
// to limit.
const (
	// MaxDepth is how deeply elements may nest, SOAP envelope included:
	// a Peticion needs 8, its DatosEspecificos a few more.
	MaxDepth = 32
	// MaxElements is how many SolicitudTransmision a request may hold,
	// as in PID.
	MaxElements = 1000
)

// ParsePeticion reads a SOAP 1.1 envelope whose Body holds an SCSP v3
// Peticion. The document must be UTF-8 without NUL bytes, without a
// DOCTYPE (so no entity is ever declared, let alone expanded) or
// processing instructions, nested at most MaxDepth deep; its Peticion must
// follow the schema's structure: every element known, in its namespace,
// under its parent, at most once where the schema allows one (in order
// where the schema is a sequence), with the required ones present and not
// empty, leaves within their lengths and enumerations, and NumElementos
// equal to the number of SolicitudTransmision. The SOAP Header and the
// content of DatosEspecificos are not checked here (the header is WS-
// Security's; DatosEspecificos is each service's, read by Queries).
//
// Every refusal is an *Error naming the element, with SCSP code 0226 (not
// XML, or XML Pont refuses), 0401 (against the schema), 0402 (a required
// element missing or empty), 0404 (a TipoDocumentacion SCSP does not
// define) or 0237 (the element count). On error the Peticion returned
// holds the Atributos read so far, so that the fault can echo them; it must
// not be used for anything else.
func ParsePeticion(body []byte) (*Peticion, error) {
	s := scanner{}
	if err := s.scan(body); err != nil {
		return &Peticion{Atributos: s.atributos}, err
	}
	var env struct {
		Body struct {
			Peticion Peticion `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Peticion"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		// The scan read the same document: this is a bug, not the
		// requester's doing, but it is answered as a parse error.
		return &Peticion{Atributos: s.atributos}, newError(CodeParse, "", "the request could not be read: %v", err)
	}
	p := &env.Body.Peticion
	collapseStrings(reflect.ValueOf(p).Elem())
	return p, nil
}

// collapseStrings applies collapse to every string field of the struct v,
// through nested structs and slices of structs; DatosEspecificos is left as
// it was sent.
func collapseStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(collapse(v.String()))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[DatosEspecificos]() {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				collapseStrings(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := range v.Len() {
				collapseStrings(v.Index(i))
			}
		}
	}
}

// spec is what the schema allows of one element.
type spec struct {
	ns string
	// children, in the schema's order; nil for a leaf.
	children []child
	// seq: the children must come in order (xs:sequence).
	seq bool
	// opaque: the content is not checked (the SOAP Header,
	// DatosEspecificos).
	opaque bool
	// A leaf's text, once collapsed: at most max characters (0: no
	// limit), one of enum when enum is set (refused with enumCode, or
	// 0401).
	max      int
	enum     []string
	enumCode string
	// empty: the leaf may be empty.
	empty bool
}

type child struct {
	name     string
	required bool
	many     bool
}

func req(name string) child  { return child{name: name, required: true} }
func opt(name string) child  { return child{name: name} }
func many(name string) child { return child{name: name, required: true, many: true} }

func node(ns string, seq bool, children ...child) *spec {
	return &spec{ns: ns, seq: seq, children: children}
}

func leaf(max int, enum ...string) *spec { return &spec{ns: NSPeticion, max: max, enum: enum} }

// specs are the elements of a SOAP envelope holding a Peticion, by local
// name (each name has one meaning in the Peticion schema), after
// peticion.xsd.
var specs = map[string]*spec{
	"Envelope":                node(NSSOAP, true, opt("Header"), req("Body")),
	"Header":                  {ns: NSSOAP, opaque: true},
	"Body":                    node(NSSOAP, false, req("Peticion")),
	"Peticion":                node(NSPeticion, false, req("Atributos"), req("Solicitudes")),
	"Atributos":               node(NSPeticion, false, req("IdPeticion"), req("NumElementos"), req("TimeStamp"), opt("Estado"), req("CodigoCertificado")),
	"IdPeticion":              leaf(26),
	"NumElementos":            leaf(4),
	"TimeStamp":               leaf(29),
	"CodigoCertificado":       leaf(64),
	"Estado":                  node(NSPeticion, false, opt("CodigoEstado"), opt("CodigoEstadoSecundario"), opt("LiteralError"), opt("TiempoEstimadoRespuesta")),
	"CodigoEstado":            {ns: NSPeticion, max: 4, empty: true},
	"CodigoEstadoSecundario":  {ns: NSPeticion, max: 16, empty: true},
	"LiteralError":            {ns: NSPeticion, max: 1024, empty: true},
	"TiempoEstimadoRespuesta": {ns: NSPeticion, max: 4, empty: true},
	"Solicitudes":             node(NSPeticion, true, many("SolicitudTransmision")),
	"SolicitudTransmision":    node(NSPeticion, false, req("DatosGenericos"), opt("DatosEspecificos")),
	"DatosEspecificos":        {ns: NSDatosEspecificos, opaque: true},
	"DatosGenericos":          node(NSPeticion, false, req("Emisor"), req("Solicitante"), req("Titular"), req("Transmision")),
	"Emisor":                  node(NSPeticion, false, req("NifEmisor"), req("NombreEmisor")),
	"NifEmisor":               leaf(9),
	"NombreEmisor":            leaf(50),
	"Solicitante": node(NSPeticion, false, req("IdentificadorSolicitante"), req("NombreSolicitante"), req("UnidadTramitadora"),
		opt("CodigoUnidadTramitadora"), req("Procedimiento"), req("Finalidad"), req("Consentimiento"), req("Funcionario"), req("IdExpediente")),
	"IdentificadorSolicitante":  leaf(9),
	"NombreSolicitante":         leaf(50),
	"UnidadTramitadora":         leaf(250),
	"CodigoUnidadTramitadora":   leaf(9),
	"Procedimiento":             node(NSPeticion, true, req("CodProcedimiento"), req("NombreProcedimiento"), opt("Automatizado"), opt("ClaseTramite")),
	"CodProcedimiento":          leaf(20),
	"NombreProcedimiento":       leaf(100),
	"Automatizado":              leaf(1, "S", "N"),
	"ClaseTramite":              leaf(2, "0", "2", "3", "14", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "99"),
	"Finalidad":                 leaf(250),
	"Consentimiento":            leaf(5, "Si", "NoOpo", "Ley"),
	"Funcionario":               node(NSPeticion, true, req("NombreCompletoFuncionario"), req("NifFuncionario")),
	"NombreCompletoFuncionario": leaf(160),
	"NifFuncionario":            leaf(9),
	"IdExpediente":              leaf(65),
	"Titular":                   node(NSPeticion, true, opt("TipoDocumentacion"), opt("Documentacion"), opt("NombreCompleto"), opt("Nombre"), opt("Apellido1"), opt("Apellido2")),
	"TipoDocumentacion":         {ns: NSPeticion, max: 9, enum: []string{"NIF", "DNI", "Pasaporte", "NIE"}, enumCode: CodeDocumentType},
	"Documentacion":             leaf(30),
	"NombreCompleto":            leaf(160),
	"Nombre":                    leaf(50),
	"Apellido1":                 leaf(50),
	"Apellido2":                 leaf(50),
	"Transmision":               node(NSPeticion, false, req("CodigoCertificado"), req("IdSolicitud"), opt("IdTransmision"), opt("FechaGeneracion")),
	"IdSolicitud":               leaf(40),
	"IdTransmision":             leaf(29),
	"FechaGeneracion":           leaf(29),
}

// frame is one open element of the scan.
type frame struct {
	name string
	path string
	spec *spec
	// seen counts each child by name; last is the index in spec.children
	// of the last child, for sequences.
	seen map[string]int
	last int
	text strings.Builder
}

// scanner checks a document token by token before it is unmarshalled:
// encoding/xml alone would take a DOCTYPE, keep the last of repeated
// elements and skip unknown ones.
type scanner struct {
	stack []*frame
	// opaque counts the open elements inside an opaque one.
	opaque    int
	depth     int
	root      bool
	elements  int
	atributos Atributos
}

func (s *scanner) scan(body []byte) error {
	if i := bytes.IndexByte(body, 0); i >= 0 {
		return newError(CodeParse, "", "the request holds a NUL byte at offset %d", i)
	}
	if !utf8.Valid(body) {
		return newError(CodeParse, "", "the request is not valid UTF-8")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return newError(CodeParse, s.where(), "not well-formed XML (line %d): %v", line(d), err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return newError(CodeParse, s.where(), "a DOCTYPE or other declaration is not allowed (line %d)", line(d))
		case xml.ProcInst:
			if t.Target != "xml" || s.root {
				return newError(CodeParse, s.where(), "the processing instruction <?%s?> is not allowed (line %d)", t.Target, line(d))
			}
		case xml.StartElement:
			if err := s.start(t, line(d)); err != nil {
				return err
			}
		case xml.EndElement:
			if err := s.end(); err != nil {
				return err
			}
		case xml.CharData:
			if err := s.text(t); err != nil {
				return err
			}
		}
	}
	if !s.root {
		return newError(CodeParse, "", "the request is empty")
	}
	return nil
}

func line(d *xml.Decoder) int {
	l, _ := d.InputPos()
	return l
}

// where is the path of the open element, for errors.
func (s *scanner) where() string {
	if len(s.stack) == 0 {
		return ""
	}
	return s.stack[len(s.stack)-1].path
}

func (s *scanner) start(t xml.StartElement, ln int) error {
	s.depth++
	if s.depth > MaxDepth {
		return newError(CodeParse, s.where(), "elements nest deeper than %d (line %d)", MaxDepth, ln)
	}
	if s.opaque > 0 {
		s.opaque++
		return nil
	}
	name := t.Name.Local
	if len(s.stack) == 0 {
		if s.root {
			return newError(CodeParse, "", "more than one root element")
		}
		s.root = true
		if t.Name.Space != NSSOAP || name != "Envelope" {
			return newError(CodeSchema, name, "the request must be a SOAP 1.1 Envelope (namespace %s), not {%s}%s", NSSOAP, t.Name.Space, name)
		}
		s.stack = append(s.stack, &frame{name: name, path: name, spec: specs[name], seen: map[string]int{}})
		return nil
	}
	parent := s.stack[len(s.stack)-1]
	if parent.spec.children == nil {
		return newError(CodeSchema, parent.path, "must hold text, not the element %s", name)
	}
	idx := slices.IndexFunc(parent.spec.children, func(c child) bool { return c.name == name })
	sp := specs[name]
	if idx < 0 || sp == nil {
		return newError(CodeSchema, parent.path, "%s is not an element of %s (line %d)", name, parent.name, ln)
	}
	c := parent.spec.children[idx]
	if t.Name.Space != sp.ns {
		return newError(CodeSchema, parent.path+"/"+name, "must be in namespace %s, not %q", sp.ns, t.Name.Space)
	}
	n := parent.seen[name]
	if n > 0 && !c.many {
		return newError(CodeSchema, parent.path+"/"+name, "is given more than once (line %d)", ln)
	}
	if parent.spec.seq && idx < parent.last {
		return newError(CodeSchema, parent.path+"/"+name, "comes after %s; %s lists its elements in order", parent.spec.children[parent.last].name, parent.name)
	}
	parent.seen[name] = n + 1
	parent.last = idx
	path := parent.path + "/" + name
	if name == "Peticion" {
		path = name
	}
	if c.many {
		path = fmt.Sprintf("%s[%d]", path, n+1)
	}
	if name == "SolicitudTransmision" {
		s.elements++
		if s.elements > MaxElements {
			return newError(CodeCount, parent.path, "holds more than %d SolicitudTransmision", MaxElements)
		}
	}
	if sp.opaque {
		s.opaque = 1
	}
	s.stack = append(s.stack, &frame{name: name, path: path, spec: sp, seen: map[string]int{}})
	return nil
}

func (s *scanner) end() error {
	s.depth--
	if s.opaque > 1 {
		s.opaque--
		return nil
	}
	s.opaque = 0
	f := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	if f.spec.opaque {
		return nil
	}
	if f.spec.children != nil {
		for _, c := range f.spec.children {
			if c.required && f.seen[c.name] == 0 {
				return newError(CodeRequired, f.path+"/"+c.name, "is required")
			}
		}
		if f.name == "Peticion" {
			// Atributos and Solicitudes come in either order (xs:all).
			return s.checkCount()
		}
		return nil
	}
	text := collapse(f.text.String())
	switch {
	case text == "" && !f.spec.empty:
		return newError(CodeRequired, f.path, "must not be empty")
	case f.spec.max > 0 && utf8.RuneCountInString(text) > f.spec.max:
		return newError(CodeSchema, f.path, "must be at most %d characters", f.spec.max)
	case f.spec.enum != nil && !slices.Contains(f.spec.enum, text):
		code := f.spec.enumCode
		if code == "" {
			code = CodeSchema
		}
		return newError(code, f.path, "%q is not one of %s", text, strings.Join(f.spec.enum, ", "))
	}
	if len(s.stack) > 0 && s.stack[len(s.stack)-1].name == "Atributos" {
		switch f.name {
		case "IdPeticion":
			s.atributos.IdPeticion = text
		case "NumElementos":
			s.atributos.NumElementos = text
		case "TimeStamp":
			s.atributos.TimeStamp = text
		case "CodigoCertificado":
			s.atributos.CodigoCertificado = text
		}
	}
	return nil
}

// checkCount checks NumElementos against the SolicitudTransmision read.
func (s *scanner) checkCount() error {
	n, err := strconv.Atoi(s.atributos.NumElementos)
	if err != nil || n < 1 || n > MaxElements {
		return newError(CodeSchema, "Peticion/Atributos/NumElementos", "%q is not a number from 1 to %d", s.atributos.NumElementos, MaxElements)
	}
	if n != s.elements {
		return newError(CodeCount, "Peticion/Atributos/NumElementos", "is %d but Peticion/Solicitudes holds %d SolicitudTransmision", n, s.elements)
	}
	return nil
}

func (s *scanner) text(t xml.CharData) error {
	if s.opaque > 0 || len(s.stack) == 0 {
		return nil
	}
	f := s.stack[len(s.stack)-1]
	if f.spec.children == nil {
		if f.text.Len()+len(t) > 4*f.spec.max+1024 {
			return newError(CodeSchema, f.path, "must be at most %d characters", f.spec.max)
		}
		f.text.Write(t)
		return nil
	}
	if len(bytes.TrimLeft(t, " \t\r\n")) > 0 {
		return newError(CodeSchema, f.path, "must hold elements, not text")
	}
	return nil
}
