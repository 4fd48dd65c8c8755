using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace StreamBert.Review.Web;

/// <summary>
/// Data-protection keys (antiforgery tokens) kept in memory: the desk writes nothing to disk, and a restart merely
/// asks open pages to reload. ASP.NET Core's default would persist a key ring under the user's profile.
/// </summary>
internal sealed class MemoryKeyRepository : IXmlRepository
{
    private readonly Lock _lock = new();
    private readonly List<XElement> _elements = [];

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        lock (_lock)
        {
            return [.. _elements.Select(e => new XElement(e))];
        }
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        lock (_lock)
        {
            _elements.Add(new XElement(element));
        }
    }
}
