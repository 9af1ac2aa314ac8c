{{/* Names and labels shared by every template. */}}

{{- define "gobuild-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gobuild-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gobuild-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gobuild-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gobuild-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gobuild-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gobuild-operator
{{- end }}

{{- define "gobuild-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gobuild-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gobuild-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The webhook's Service, TLS Secret, leader Lease and MutatingWebhookConfiguration. */}}
{{- define "gobuild-operator.webhookService" -}}
{{- printf "%s-webhook" (include "gobuild-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gobuild-operator.tlsSecret" -}}
{{- printf "%s-webhook-tls" (include "gobuild-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gobuild-operator.leaseName" -}}
{{- printf "%s-leader" (include "gobuild-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gobuild-operator.webhookConfiguration" -}}
{{- include "gobuild-operator.fullname" . }}
{{- end }}
