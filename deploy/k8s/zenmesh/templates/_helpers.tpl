{{/* Names: "<release>-zenmesh" unless the release already says zenmesh. */}}
{{- define "zenmesh.fullname" -}}
{{- if contains "zenmesh" .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-zenmesh" .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "zenmesh.labels" -}}
app.kubernetes.io/name: zenmesh
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "zenmesh.selector" -}}
app.kubernetes.io/name: zenmesh
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* A Secret's name: the value given, else "<release>-<name>". */}}
{{- define "zenmesh.secret" -}}
{{- $given := index .root.Values.secrets .key -}}
{{- if $given -}}{{ $given }}{{- else -}}{{ printf "%s-%s" .root.Release.Name .name }}{{- end -}}
{{- end -}}

{{/* Ports of every service: gRPC (mutual TLS) and HTTP faces. */}}
{{- define "zenmesh.ports" -}}
ca: { grpc: 7000, join: 7001 }
token: { grpc: 7100, http: 4000 }
backend: { grpc: 7200 }
egress: { grpc: 7300 }
ingester: { http: 8080 }
bff: { http: 3000 }
{{- end -}}

{{- define "zenmesh.addr" -}}
{{ include "zenmesh.fullname" .root }}-{{ .name }}:{{ .port }}
{{- end -}}

{{- /* The public URL of the token service (`iss`): an https URL behind your ingress in production; the default
suits `kubectl port-forward svc/<release>-token 4000` (plain http is accepted for loopback only). */ -}}
{{- define "zenmesh.tokenIssuer" -}}
{{- .Values.services.token.issuer | default "http://localhost:4000" -}}
{{- end -}}

{{- /* Where backend and bff fetch the issuer's keys: the in-cluster service, whatever the public URL is. */ -}}
{{- define "zenmesh.tokenJwksUrl" -}}
{{- printf "http://%s-token:4000/.well-known/jwks.json" (include "zenmesh.fullname" .) -}}
{{- end -}}
