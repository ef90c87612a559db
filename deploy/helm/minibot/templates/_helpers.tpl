{{/* The release's full name, cut to the 63 characters a name may have. */}}
{{- define "minibot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "minibot.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "minibot.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "minibot.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Non-root, read-only root file system, no capabilities: the container's context. */}}
{{- define "minibot.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The environment every minibot container gets: the Secret's keys, then `env`.
     Called with (list $ "") for the pods, (list $ "-migrate") for the hook Job. */}}
{{- define "minibot.env" -}}
{{- $ := index . 0 -}}
{{- $copy := index . 1 -}}
envFrom:
  - secretRef:
      name: {{ if $.Values.existingSecret }}{{ $.Values.existingSecret }}{{ else }}{{ include "minibot.fullname" $ }}{{ $copy }}{{ end }}
env:
  - name: MINIBOT_CONFIG
    value: /etc/minibot/config.toml
{{- range $name, $value := $.Values.env }}
  - name: {{ $name }}
    value: {{ $value | quote }}
{{- end }}
{{- end -}}
