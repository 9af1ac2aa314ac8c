{{/* Monitoring: the alerts (monitoring/alerts.yaml, generated from devtools/monitoring/alerts.py)
with the chart's thresholds filled in, and a scrape configuration equivalent to the ServiceMonitor
for a Prometheus without prometheus-operator. */}}

{{- define "gobuild-operator.alertGroups" -}}
{{- $doc := .Files.Get "monitoring/alerts.yaml" | fromYaml }}
{{- $disabled := .Values.monitoring.alerts.disabled }}
{{- $extra := .Values.monitoring.alerts.labels }}
{{- $groups := list }}
{{- range $doc.groups }}
{{- $rules := list }}
{{- range .rules }}
{{- if not (has .alert $disabled) }}
{{- $rule := deepCopy . }}
{{- $_ := set $rule "expr" (tpl .expr $) }}
{{- $_ := set $rule "labels" (merge (deepCopy $extra) (.labels | default dict)) }}
{{- $rules = append $rules $rule }}
{{- end }}
{{- end }}
{{- if $rules }}
{{- $groups = append $groups (dict "name" .name "rules" $rules) }}
{{- end }}
{{- end }}
{{- toYaml $groups }}
{{- end }}

{{/* The ServiceMonitor's scrape, as plain Prometheus configuration (kubernetes_sd over
EndpointSlices): the operator's metrics Service in the release namespace, port `metrics`, the same
interval and authorization; honor_labels keeps the operator's own `namespace` label (the
GoBuildConfig's). A second job scrapes the module caches the operator runs in any namespace (their
Services: component gomodcache, instance the GoBuildConfig, port `http`). */}}
{{- define "gobuild-operator.scrapeConfigs" -}}
- job_name: {{ include "gobuild-operator.fullname" . }}-metrics
  scrape_interval: {{ .Values.metrics.serviceMonitor.interval }}
  honor_labels: true
  kubernetes_sd_configs:
    - role: endpointslice
      namespaces:
        names: [{{ .Release.Namespace }}]
  {{- if .Values.metrics.requireAuth }}
  authorization:
    credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
  {{- end }}
  relabel_configs:
    - action: keep
      source_labels:
        - __meta_kubernetes_service_label_app_kubernetes_io_name
        - __meta_kubernetes_service_label_app_kubernetes_io_instance
        - __meta_kubernetes_service_label_app_kubernetes_io_component
        - __meta_kubernetes_endpointslice_port_name
      regex: {{ include "gobuild-operator.name" . }};{{ .Release.Name }};metrics;metrics
    - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
    - {source_labels: [__meta_kubernetes_service_name], target_label: service}
    - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
    - {source_labels: [__meta_kubernetes_service_name], target_label: job}
- job_name: gomodcache
  scrape_interval: {{ .Values.metrics.serviceMonitor.interval }}
  kubernetes_sd_configs:
    - role: endpointslice
  relabel_configs:
    - action: keep
      source_labels:
        - __meta_kubernetes_service_label_app_kubernetes_io_component
        - __meta_kubernetes_endpointslice_port_name
      regex: gomodcache;http
    - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
    - {source_labels: [__meta_kubernetes_service_name], target_label: service}
    - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
    - {source_labels: [__meta_kubernetes_service_label_app_kubernetes_io_instance], target_label: config}
{{- end }}
