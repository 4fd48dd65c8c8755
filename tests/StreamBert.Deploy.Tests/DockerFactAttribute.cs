using System.Net;
using System.Net.Sockets;
using System.Text;

namespace StreamBert.Deploy.Tests;

/// <summary>
/// A fact that needs a Docker engine (Testcontainers). xunit 2 has no dynamic skip, so the attribute
/// probes the engine when the test is discovered and sets <see cref="FactAttribute.Skip"/> with the reason
/// where none answers: the test shows as skipped, with why, instead of failing or passing vacuously.
/// </summary>
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        if (DockerEngine.Unavailable is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>Whether a Docker engine answers <c>GET /_ping</c> where Testcontainers would look for it.</summary>
public static class DockerEngine
{
    private static readonly Lazy<string?> Probe = new(ProbeEngine);

    /// <summary>Why no Docker engine can be used, or null when one answered.</summary>
    public static string? Unavailable => Probe.Value;

    private static string? ProbeEngine()
    {
        var configured = Environment.GetEnvironmentVariable("DOCKER_HOST");
        var candidates = new List<string>();
        if (!string.IsNullOrWhiteSpace(configured))
        {
            candidates.Add(configured);
        }
        else
        {
            candidates.Add("unix:///var/run/docker.sock");
            if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
            {
                candidates.Add($"unix://{runtime}/docker.sock");
            }
        }

        var failures = new List<string>();
        foreach (var endpoint in candidates)
        {
            var failure = Ping(endpoint);
            if (failure is null)
            {
                return null;
            }

            failures.Add($"{endpoint}: {failure}");
        }

        return "No Docker engine answers, so Testcontainers cannot start Apache Kafka (" + string.Join("; ", failures) + ")";
    }

    private static string? Ping(string endpoint)
    {
        try
        {
            var uri = new Uri(endpoint);
            Socket socket;
            EndPoint address;
            switch (uri.Scheme)
            {
                case "unix":
                    if (!File.Exists(uri.AbsolutePath))
                    {
                        return "no such socket";
                    }

                    socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    address = new UnixDomainSocketEndPoint(uri.AbsolutePath);
                    break;
                case "tcp":
                    socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    address = new DnsEndPoint(uri.Host, uri.Port);
                    break;
                default:
                    return $"scheme {uri.Scheme} is not probed here";
            }

            using (socket)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                socket.ConnectAsync(address, timeout.Token).AsTask().GetAwaiter().GetResult();
                socket.Send("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"u8);
                var buffer = new byte[512];
                var read = socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).AsTask().GetAwaiter().GetResult();
                var status = Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0];
                return status.Contains(" 200 ", StringComparison.Ordinal) ? null : $"answered '{status}'";
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or UriFormatException or IOException)
        {
            return ex is OperationCanceledException ? "no answer within 2 s" : ex.Message;
        }
    }
}
