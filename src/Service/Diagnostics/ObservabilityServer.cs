using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace StreamBert.Service.Diagnostics;

/// <summary>Where <see cref="ObservabilityServer"/> listens.</summary>
/// <param name="Host">An IP address (<c>0.0.0.0</c>, <c>::</c>, <c>127.0.0.1</c>) or <c>localhost</c>.</param>
/// <param name="Port">-1: no server; 0: a free port chosen by the OS (tests), see <see cref="ObservabilityServer.Port"/>.</param>
public sealed record ObservabilityEndpoint(string Host, int Port);

/// <summary>
/// <c>/metrics</c> (Prometheus text, from the OpenTelemetry meter provider), <c>/healthz</c> and
/// <c>/readyz</c> on a small Kestrel app of its own. A separate app, not the processor's host turned into
/// a web host, so the processor stays a plain generic host and the server can be switched off; it is
/// started before the processor (liveness answers while models load) and stopped after it (metrics stay
/// scrapeable while the pipeline drains).
/// </summary>
public sealed partial class ObservabilityServer : IHostedService, IAsyncDisposable
{
    private readonly ObservabilityEndpoint _endpoint;
    private readonly MeterProvider _meterProvider;
    private readonly IReadinessProbe _health;
    private readonly ILivenessProbe? _liveness;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private WebApplication? _app;

    /// <param name="liveness">What <c>/healthz</c> asks; without one, answering HTTP is taken as alive.</param>
    public ObservabilityServer(ObservabilityEndpoint endpoint, MeterProvider meterProvider, IReadinessProbe health, ILoggerFactory loggerFactory, ILivenessProbe? liveness = null)
    {
        _liveness = liveness;
        _endpoint = endpoint;
        _meterProvider = meterProvider;
        _health = health;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ObservabilityServer>();
    }

    /// <summary>The port the endpoints listen on once started (the OS-chosen one when configured as 0); null when disabled or not started.</summary>
    public int? Port { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_endpoint.Port < 0)
        {
            LogDisabled(_logger);
            return;
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            if (string.Equals(_endpoint.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                kestrel.ListenLocalhost(_endpoint.Port);
            }
            else if (IPAddress.TryParse(_endpoint.Host, out var address))
            {
                kestrel.Listen(address, _endpoint.Port);
            }
            else
            {
                throw new InvalidOperationException($"Processor:MetricsHost '{_endpoint.Host}' is neither an IP address nor 'localhost'.");
            }
        });
        builder.Services.AddRoutingCore();
        // Server logs go where the processor's go, at the processor's levels.
        builder.Services.AddSingleton(_loggerFactory);

        var app = builder.Build();
        app.UseOpenTelemetryPrometheusScrapingEndpoint(_meterProvider, predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
        app.MapGet("/healthz", context =>
        {
            var report = _liveness?.Liveness() ?? new LivenessReport(true, "ok");
            context.Response.StatusCode = report.Alive ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            context.Response.ContentType = "text/plain";
            return context.Response.WriteAsync(report.Alive ? "ok\n" : report.Reason + "\n", context.RequestAborted);
        });
        app.MapGet("/readyz", context =>
        {
            var report = _health.Readiness();
            context.Response.StatusCode = report.Ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return context.Response.WriteAsJsonAsync(report, DiagnosticsJson.Default.ReadinessReport, contentType: null, context.RequestAborted);
        });

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Port = new Uri(address).Port;
        LogListening(_logger, address);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Metrics and health endpoints on {Address} (/metrics, /healthz, /readyz)")]
    private static partial void LogListening(ILogger logger, string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Metrics and health endpoints disabled (Processor:MetricsPort < 0)")]
    private static partial void LogDisabled(ILogger logger);
}
