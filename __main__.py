"""sagemaker-llm: read the stack's settings, build the components in data-flow order, export the outputs."""

import pulumi

from components.chat_api import ChatApi, ChatApiArgs
from components.model_endpoint import VARIANT_NAME, ModelEndpoint, ModelEndpointArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.proxy_function import ProxyFunction, ProxyFunctionArgs, require_concurrency_quota
from components.settings import load_settings

settings = load_settings()
require_concurrency_quota(settings.api_max_concurrency)  # before any resource, at preview and at up

endpoint = ModelEndpoint("model", ModelEndpointArgs.from_settings(settings))
proxy = ProxyFunction(
    "proxy",
    ProxyFunctionArgs.from_settings(
        settings,
        endpoint_name=endpoint.endpoint_name,
        invoke_statement=endpoint.invoke_statement(),
        served_model_name=endpoint.served_model_name,
        inference_component_name=endpoint.inference_component_name,
        adapter_component_names=endpoint.adapter_component_names,
    ),
)
api = ChatApi(
    "api",
    ChatApiArgs.from_settings(
        settings,
        function_name=proxy.function_name,
        function_invoke_arn=proxy.invoke_arn,
        function_streaming_invoke_arn=proxy.streaming_invoke_arn,
    ),
)

pulumi.export("apiUrl", api.api_url)
pulumi.export("apiKey", proxy.api_key)
pulumi.export("endpointName", endpoint.endpoint_name)
pulumi.export("servedModelName", endpoint.served_model_name)
pulumi.export("modelId", endpoint.served_model_name)  # servedModelName's name before it had its own (docs/design.md)
pulumi.export("models", endpoint.served_model_names)  # every model of the API: the base model, then each LoRA adapter
if endpoint.inference_component_name is not None:  # scaleToZero or adapters: invoking the endpoint needs it
    pulumi.export("inferenceComponentName", endpoint.inference_component_name)

ui_instance_id = None
if settings.ui_enabled:
    from components.chat_ui_host import ChatUiHost, ChatUiHostArgs

    ui = ChatUiHost(
        "ui",
        ChatUiHostArgs.from_settings(
            settings,
            api_url=api.api_url,
            api_key_parameter_name=proxy.api_key_parameter_name,
            api_key_read_statement=proxy.read_key_statement(),
            served_model_name=endpoint.served_model_name,
        ),
    )
    pulumi.export("uiUrl", ui.ui_url)
    pulumi.export("uiAdminEmail", ui.admin_email)
    pulumi.export("uiAdminPassword", pulumi.Output.secret(ui.admin_password))
    ui_instance_id = ui.instance_id

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs.from_settings(
        settings,
        endpoint_name=endpoint.endpoint_name,
        variant_name=VARIANT_NAME,
        inference_component_name=endpoint.inference_component_name,
        adapter_component_names=endpoint.adapter_component_names,
        served_model_names=endpoint.served_model_names,
        function_name=proxy.function_name,
        function_log_group_name=proxy.log_group_name,
        api=api.metric_source(),
        ui_instance_id=ui_instance_id,
    ),
)
pulumi.export("dashboardUrl", monitoring.dashboard_url)
