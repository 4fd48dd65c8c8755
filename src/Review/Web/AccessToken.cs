using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace StreamBert.Review.Web;

/// <summary>
/// The shared secret of a desk reachable from other machines. A request carries it in the <c>X-Review-Token</c>
/// header, as <c>Authorization: Bearer</c>, or in the cookie a browser gets by opening any page with
/// <c>?token=SECRET</c> once (then redirected to the same page without it, so the secret leaves the address bar and
/// history). Without a configured token every request passes: the desk then listens on loopback only.
/// </summary>
internal sealed class AccessToken(string? secret)
{
    public const string HeaderName = "X-Review-Token";
    public const string CookieName = "streambert-review-token";
    public const string QueryName = "token";

    private readonly byte[]? _secretHash = string.IsNullOrEmpty(secret) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (_secretHash is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var request = context.Request;
        if (request.Query.TryGetValue(QueryName, out var fromQuery))
        {
            if (!Matches(fromQuery.ToString()))
            {
                await Refuse(context).ConfigureAwait(false);
                return;
            }

            context.Response.Cookies.Append(CookieName, fromQuery.ToString(), new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = request.IsHttps,
                Path = "/",
            });
            var rest = QueryString.Create(request.Query.Where(q => q.Key != QueryName));
            context.Response.Redirect(request.PathBase + request.Path + rest);
            return;
        }

        var presented = request.Headers[HeaderName].ToString() is { Length: > 0 } header ? header
            : request.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal) ? auth["Bearer ".Length..]
            : request.Cookies[CookieName];
        if (!Matches(presented))
        {
            await Refuse(context).ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    private bool Matches(string? presented) =>
        presented is { Length: > 0 }
        // Hashing first makes the comparison constant-time whatever the lengths.
        && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), _secretHash);

    private static Task Refuse(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("This desk needs its access token: open it once as /?token=SECRET.\n", context.RequestAborted);
    }
}
