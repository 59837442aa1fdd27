package scsp

import (
	"strings"
)

// paramMappers read the params of a service's query from its
// DatosEspecificos, by service name, after each certificate's
// datos-especificos.xsd. A service without one takes no params from
// SCSP: titulacions (SVDTUWS03) and prestacions (Q2827002CINSS001) need
// none; whatever their DatosEspecificos hold is not read.
var paramMappers = map[string]func(de []Node, at string) (map[string]string, error){
	"padro":            padroParams,
	"discapacitat":     regionParams("Consulta", "CodigoComunidadAutonoma"),
	"familia-nombrosa": regionParams("Consulta", "TituloFamiliaNumerosa", "CodigoComunidadAutonoma"),
}

// paramsOf returns the params of a query for service from its
// DatosEspecificos; at is the element's path, for errors.
func paramsOf(service string, de DatosEspecificos, at string) (map[string]string, error) {
	m, ok := paramMappers[service]
	if !ok {
		return nil, nil
	}
	return m(de.Nodes, at)
}

// padroParams reads SVDSECOPA01WS01's Solicitud/Residencia: the INE codes
// of the province (2 digits) and municipality (3 digits) make Pont's
// municipality (5 digits), by which the query is routed. The schema makes
// Residencia and Municipio optional (the INE can search the whole
// country); Pont routes by municipality, so both are required here.
// Espanol and Nacimiento have no counterpart in Pont's params.
func padroParams(de []Node, at string) (map[string]string, error) {
	prov, err := text(de, at, true, "Solicitud", "Residencia", "Provincia")
	if err != nil {
		return nil, err
	}
	mun, err := text(de, at, true, "Solicitud", "Residencia", "Municipio")
	if err != nil {
		return nil, err
	}
	if !digits(prov, 2) {
		return nil, newError(CodeSchema, at+"/Solicitud/Residencia/Provincia", "%q is not an INE province code of 2 digits", prov)
	}
	if !digits(mun, 3) {
		return nil, newError(CodeSchema, at+"/Solicitud/Residencia/Municipio", "%q is not an INE municipality code of 3 digits", mun)
	}
	return map[string]string{"municipality": prov + mun}, nil
}

// regionParams reads the region (the INE code of the autonomous
// community, 2 digits) at path: SVDSCDDWS01's and SVDSCTFNWS01's
// CodigoComunidadAutonoma, by which the query is routed. Their other
// elements (CodigoProvincia, Expediente, NumeroTitulo, FechaConsulta,
// DatosAdicionalesTitular, ConsentimientoTiposDiscapacidad) have no
// counterpart in Pont's params.
func regionParams(path ...string) func([]Node, string) (map[string]string, error) {
	return func(de []Node, at string) (map[string]string, error) {
		region, err := text(de, at, true, path...)
		if err != nil {
			return nil, err
		}
		if !digits(region, 2) {
			return nil, newError(CodeSchema, at+"/"+strings.Join(path, "/"), "%q is not an INE autonomous community code of 2 digits", region)
		}
		return map[string]string{"region": region}, nil
	}
}

// text returns the collapsed text of the element at path below nodes, each
// step one element of the datosespecificos namespace; a step given more
// than once is refused (0401), a missing one too when required (0402).
func text(nodes []Node, at string, required bool, path ...string) (string, error) {
	var cur *Node
	for i, name := range path {
		var found *Node
		for j := range nodes {
			n := &nodes[j]
			if n.XMLName.Local != name {
				continue
			}
			el := at + "/" + strings.Join(path[:i+1], "/")
			if n.XMLName.Space != NSDatosEspecificos {
				return "", newError(CodeSchema, el, "must be in namespace %s, not %q", NSDatosEspecificos, n.XMLName.Space)
			}
			if found != nil {
				return "", newError(CodeSchema, el, "is given more than once")
			}
			found = n
		}
		if found == nil {
			if required {
				return "", newError(CodeRequired, at+"/"+strings.Join(path[:i+1], "/"), "is required")
			}
			return "", nil
		}
		cur, nodes = found, found.Nodes
	}
	if len(cur.Nodes) > 0 {
		return "", newError(CodeSchema, at+"/"+strings.Join(path, "/"), "must hold text, not elements")
	}
	t := collapse(cur.Text)
	if t == "" && required {
		return "", newError(CodeRequired, at+"/"+strings.Join(path, "/"), "must not be empty")
	}
	return t, nil
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
