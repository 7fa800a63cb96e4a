{{/*
Object names are fixed, not derived from the release name: the self-hosting guide lists them
(`llm-engine`, `llm-engine-cacher`, ...) and the application finds the gateway Service and the
image-cache DaemonSets by these names.
*/}}
{{- define "llm-engine.name" -}}llm-engine{{- end -}}

{{- define "llm-engine.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: llm-engine
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.tag | default .Chart.AppVersion | toString | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-engine
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "llm-engine.selectorLabels" -}}
app.kubernetes.io/name: llm-engine
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The values that must be set; each failure says which key to set. */}}
{{- define "llm-engine.tag" -}}
{{- required "set `tag` to the LLM Engine image tag (e.g. --set tag=1.0.0)" .Values.tag | toString -}}
{{- end -}}

{{- define "llm-engine.databaseSecretName" -}}
{{- required "set `secrets.kubernetesDatabaseSecretName` to the name of a Secret with key database_url" .Values.secrets.kubernetesDatabaseSecretName -}}
{{- end -}}

{{- define "llm-engine.roleArn" -}}
{{- required "set `serviceAccount.annotations.\"eks.amazonaws.com/role-arn\"` to the ARN of the IAM role for LLM Engine" (index .Values.serviceAccount.annotations "eks.amazonaws.com/role-arn") -}}
{{- end -}}

{{/* Images: builder, cacher and forwarder default to the gateway repository (one image). */}}
{{- define "llm-engine.gatewayRepository" -}}
{{- required "set `image.gatewayRepository` to the repository of the LLM Engine image" .Values.image.gatewayRepository -}}
{{- end -}}
{{- define "llm-engine.image.gateway" -}}
{{- printf "%s:%s" (include "llm-engine.gatewayRepository" .) (include "llm-engine.tag" .) -}}
{{- end -}}
{{- define "llm-engine.image.builder" -}}
{{- printf "%s:%s" (.Values.image.builderRepository | default (include "llm-engine.gatewayRepository" .)) (include "llm-engine.tag" .) -}}
{{- end -}}
{{- define "llm-engine.image.cacher" -}}
{{- printf "%s:%s" (.Values.image.cacherRepository | default (include "llm-engine.gatewayRepository" .)) (include "llm-engine.tag" .) -}}
{{- end -}}
{{- define "llm-engine.image.forwarder" -}}
{{- printf "%s:%s" (.Values.image.forwarderRepository | default (include "llm-engine.gatewayRepository" .)) (include "llm-engine.tag" .) -}}
{{- end -}}

{{- define "llm-engine.endpointNamespace" -}}
{{- .Values.config.values.llm_engine.endpoint_namespace | default .Release.Namespace -}}
{{- end -}}

{{/*
REDIS_URL, never with a password: that comes from redis.passwordSecret as LLME_REDIS_PASSWORD
(a ConfigMap is readable by anyone who may read the namespace's configuration).
*/}}
{{- define "llm-engine.redisUrl" -}}
{{- $url := .Values.config.values.llm_engine.cache_redis_url -}}
{{- if not $url -}}
{{- $host := required "set `config.values.llm_engine.cache_redis_url` or `config.values.infra.redis_host`: the builder and cacher need Redis" .Values.config.values.infra.redis_host -}}
{{- $url = printf "%s://%s:6379/0" (ternary "rediss" "redis" .Values.redis.tls) $host -}}
{{- end -}}
{{- if regexMatch "^rediss?://[^/@]*:[^/@]+@" $url -}}
{{- fail "config.values.llm_engine.cache_redis_url holds a password, which would land in a ConfigMap: remove it from the URL and name a Secret holding it in `redis.passwordSecret.name` (key `redis.passwordSecret.key`)" -}}
{{- end -}}
{{- $url -}}
{{- end -}}

{{/* AWS account ids are 12 digits; an unquoted one in YAML arrives as a number. */}}
{{- define "llm-engine.accountId" -}}
{{- $id := .Values.config.values.infra.ml_account_id -}}
{{- if kindIs "string" $id -}}{{ $id }}{{- else -}}{{ printf "%012d" (int64 $id) }}{{- end -}}
{{- end -}}

{{- define "llm-engine.gatewayUrl" -}}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "llm-engine.name" .) .Release.Namespace .Values.service.port -}}
{{- end -}}

{{- define "llm-engine.awsConfigMapName" -}}
{{- .Values.aws.configMap.name -}}
{{- end -}}

{{/*
Non-secret settings of the control plane, as environment variable -> value. The ConfigMap
`llm-engine-config` holds them for the Deployments; the migration Job (a pre-install hook, when
that ConfigMap does not exist yet) gets the same values inline.
*/}}
{{- define "llm-engine.settings" -}}
{{- $infra := .Values.config.values.infra -}}
{{- $llm := .Values.config.values.llm_engine -}}
LLME_ENV: {{ .Values.context | toString | quote }}
LLME_AUTH_MODE: {{ .Values.auth.mode | quote }}
LLME_REQUIRE_SECRET_KEY: "true"
LLME_ALLOWED_HOSTS: {{ include "llm-engine.allowedHosts" . | quote }}
LLME_TLS_TERMINATED: {{ .Values.tls.terminatedInFront | toString | quote }}
{{- if .Values.tls.terminatedInFront }}
LLME_HSTS_SECONDS: {{ .Values.tls.hstsSeconds | int64 | toString | quote }}
{{- end }}
REDIS_URL: {{ include "llm-engine.redisUrl" . | quote }}
LLME_CLUSTER_NAME: {{ $infra.k8s_cluster_name | quote }}
LLME_DNS_HOST_DOMAIN: {{ $infra.dns_host_domain | quote }}
LLME_AWS_REGION: {{ $infra.default_region | quote }}
AWS_DEFAULT_REGION: {{ $infra.default_region | quote }}
LLME_AWS_ACCOUNT_ID: {{ include "llm-engine.accountId" . | quote }}
LLME_DOCKER_REPO_PREFIX: {{ $infra.docker_repo_prefix | quote }}
LLME_S3_BUCKET: {{ $infra.s3_bucket | quote }}
LLME_ENDPOINT_NAMESPACE: {{ include "llm-engine.endpointNamespace" . | quote }}
LLME_FINE_TUNE_REPOSITORY: {{ $llm.s3_file_llm_fine_tuning_job_repository | quote }}
LLME_REGISTRY_CHECK: {{ .Values.registryCheck | toString | quote }}
LLME_QUEUE_BACKEND: {{ .Values.queueBackend | quote }}
LLME_FORWARDER_IMAGE: {{ include "llm-engine.image.forwarder" . | quote }}
LLME_GATEWAY_URL: {{ include "llm-engine.gatewayUrl" . | quote }}
LLME_GPU_NODE_LABELS: {{ .Values.gpuNodeLabels | toJson | quote }}
LLME_FRAMEWORK_REPOSITORIES: {{ .Values.frameworkRepositories | toJson | quote }}
{{- if .Values.frameworkLatestTags }}
LLME_FRAMEWORK_LATEST_TAGS: {{ .Values.frameworkLatestTags | toJson | quote }}
{{- end }}
LLME_ENDPOINT_SERVICE_ACCOUNT: {{ .Values.serviceTemplate.serviceAccountName | quote }}
LLME_ENDPOINT_SECURITY_CONTEXT: {{ .Values.serviceTemplate.securityContext | toJson | quote }}
LLME_ENDPOINT_MOUNT_INFRA_CONFIG: {{ .Values.serviceTemplate.mountInfraConfig | toString | quote }}
LLME_INFRA_CONFIG_MAP: "llm-engine-infra-config"
LLME_HIGH_PRIORITY_CLASS: "llm-engine-high-priority"
LLME_IMAGE_CACHE_NAMESPACE: {{ .Release.Namespace | quote }}
{{- if .Values.keda.triggerAuthentication.enabled }}
LLME_KEDA_TRIGGER_AUTHENTICATION: {{ .Values.keda.triggerAuthentication.name | quote }}
{{- end }}
DD_TRACE_ENABLED: {{ .Values.config.values.datadog_trace_enabled | toString | quote }}
{{- if .Values.aws.configMap.name }}
AWS_CONFIG_FILE: {{ printf "%s/config" .Values.aws.configMap.mountPath | quote }}
{{- end }}
{{- if .Values.aws.profileName }}
AWS_PROFILE: {{ .Values.aws.profileName | quote }}
{{- end }}
{{- end -}}

{{/* DATABASE_URL from the operator's Secret: only the control plane and migrations read it. */}}
{{- define "llm-engine.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "llm-engine.databaseSecretName" . }}
      key: database_url
{{- end -}}

{{/* Environment of the three control-plane Deployments (same set for all). */}}
{{- define "llm-engine.env" -}}
envFrom:
  - configMapRef:
      name: llm-engine-config
env:
  {{- include "llm-engine.databaseEnv" . | nindent 2 }}
  - name: SECRET_KEY
    valueFrom:
      secretKeyRef:
        name: llm-engine-django
        key: secret_key
  {{- with .Values.redis.passwordSecret.name }}
  # The Redis password (e.g. an ElastiCache AUTH token); the application puts it into REDIS_URL.
  - name: LLME_REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ . }}
        key: {{ $.Values.redis.passwordSecret.key }}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Volumes and mounts shared by control-plane pods: a writable /tmp and the AWS config. */}}
{{- define "llm-engine.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.aws.configMap.name }}
- name: aws-config
  configMap:
    name: {{ .Values.aws.configMap.name }}
{{- end }}
{{- end -}}

{{- define "llm-engine.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.aws.configMap.name }}
- name: aws-config
  mountPath: {{ .Values.aws.configMap.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Pod-level fields common to the control-plane Deployments. */}}
{{- define "llm-engine.podCommon" -}}
serviceAccountName: llm-engine
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "llm-engine.volumes" . | nindent 2 }}
{{- end -}}

{{/* Replicas: replicaCount may be one number (gateway and builder) or a map per Deployment. */}}
{{- define "llm-engine.replicas" -}}
{{- $count := .root.Values.replicaCount -}}
{{- if kindIs "map" $count -}}
{{- if hasKey $count .component -}}{{ index $count .component }}{{- else -}}1{{- end -}}
{{- else -}}
{{- $count -}}
{{- end -}}
{{- end -}}

{{/* Restart pods when their settings change (env from a ConfigMap is read at start only). */}}
{{- define "llm-engine.configChecksum" -}}
checksum/config: {{ include "llm-engine.settings" . | sha256sum }}
{{- end -}}

{{/* The gateway container's HTTP port (the guide's 5000). */}}
{{- define "llm-engine.gatewayPort" -}}5000{{- end -}}

{{/* The port of the forwarder sidecar in endpoint pods (the builder's FORWARDER_PORT). */}}
{{- define "llm-engine.forwarderPort" -}}5000{{- end -}}

{{/*
LLME_ALLOWED_HOSTS: `*` when allowedHosts is empty; else those names plus the ones the cluster
itself uses (the gateway Service's DNS names for KEDA and trigger CronJobs, localhost for the
probes and `kubectl port-forward`).
*/}}
{{- define "llm-engine.allowedHosts" -}}
{{- if .Values.allowedHosts -}}
{{- $service := include "llm-engine.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $internal := list $service (printf "%s.%s" $service $ns) (printf "%s.%s.svc" $service $ns) (printf "%s.%s.svc.cluster.local" $service $ns) "localhost" "127.0.0.1" -}}
{{- concat .Values.allowedHosts $internal | uniq | join "," -}}
{{- else -}}
*
{{- end -}}
{{- end -}}
