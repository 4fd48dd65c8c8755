using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace StreamBert.Deploy.Tests;

/// <summary>
/// A YAML mapping with the path it was found at, so a failed lookup names the file and the key
/// (<c>docker-compose.yml: services.processor.volumes</c>) instead of throwing a bare KeyNotFoundException.
/// Scalars stay strings, as Kubernetes and Compose read them before their own conversions.
/// </summary>
public sealed class YamlMap
{
    private readonly IDictionary<object, object?> _entries;

    public YamlMap(IDictionary<object, object?> entries, string where)
    {
        _entries = entries;
        Where = where;
    }

    /// <summary>File and key path of this mapping.</summary>
    public string Where { get; }

    public IEnumerable<string> Keys => _entries.Keys.Select(k => k.ToString()!);

    public bool Has(string key) => _entries.ContainsKey(key);

    public object? Raw(string key) => _entries.TryGetValue(key, out var value) ? value : null;

    public YamlMap Map(string key) => MapOrNull(key) ?? throw Missing(key, "a mapping");

    public YamlMap? MapOrNull(string key) => Raw(key) switch
    {
        IDictionary<object, object?> map => new YamlMap(map, $"{Where}.{key}"),
        null => null,
        _ => throw Missing(key, "a mapping"),
    };

    public string Scalar(string key) => ScalarOrNull(key) ?? throw Missing(key, "a scalar");

    public string? ScalarOrNull(string key) => Raw(key) switch
    {
        string s => s,
        null => null,
        _ => throw Missing(key, "a scalar"),
    };

    public int Number(string key) => int.Parse(Scalar(key), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The scalars of a sequence, or of a single scalar (Compose accepts both for <c>command</c>).</summary>
    public IReadOnlyList<string> Scalars(string key) => Raw(key) switch
    {
        null => [],
        string s => [s],
        IList<object?> list => list.Select(i => i as string ?? throw Missing(key, "a list of scalars")).ToList(),
        _ => throw Missing(key, "a list of scalars"),
    };

    public IReadOnlyList<YamlMap> Maps(string key) => Raw(key) switch
    {
        null => [],
        IList<object?> list => list.Select((item, i) => item is IDictionary<object, object?> map
            ? new YamlMap(map, $"{Where}.{key}[{i}]")
            : throw Missing(key, "a list of mappings")).ToList(),
        _ => throw Missing(key, "a list of mappings"),
    };

    /// <summary>The entries whose values are mappings (Compose's <c>services</c>, <c>volumes</c>).</summary>
    public IEnumerable<(string Key, YamlMap Value)> Entries() =>
        _entries.Select(e => (e.Key.ToString()!, e.Value is IDictionary<object, object?> map
            ? new YamlMap(map, $"{Where}.{e.Key}")
            : new YamlMap(new Dictionary<object, object?>(), $"{Where}.{e.Key}")));

    public override string ToString() => Where;

    private Xunit.Sdk.XunitException Missing(string key, string what) =>
        new($"{Where}.{key}: expected {what}, found {Describe(Raw(key))}");

    private static string Describe(object? value) => value switch
    {
        null => "nothing",
        string s => $"'{s}'",
        IList<object?> => "a sequence",
        _ => "a mapping",
    };
}

public static class Yaml
{
    /// <summary>Every non-empty document of a YAML file, with merge keys (<c>&lt;&lt;: *anchor</c>) applied as Compose applies them.</summary>
    public static IReadOnlyList<YamlMap> LoadAll(string path)
    {
        var documents = Documents(path);
        return documents.Select((d, i) => new YamlMap(d, $"{Path.GetFileName(path)}[{i}]")).ToList();
    }

    /// <summary>A file of exactly one document.</summary>
    public static YamlMap Load(string path)
    {
        var documents = Documents(path);
        Assert.True(documents.Count == 1, $"{path}: expected one YAML document, found {documents.Count}");
        return new YamlMap(documents[0], Path.GetFileName(path));
    }

    private static List<IDictionary<object, object?>> Documents(string path)
    {
        var deserializer = new DeserializerBuilder().Build();
        using var reader = new StreamReader(path);
        var parser = new MergingParser(new Parser(reader));
        parser.Consume<StreamStart>();
        var documents = new List<IDictionary<object, object?>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            switch (deserializer.Deserialize<object?>(parser))
            {
                case IDictionary<object, object?> map:
                    documents.Add(map);
                    break;
                case null:
                    break;
                default:
                    throw new Xunit.Sdk.XunitException($"{path}: a document that is not a mapping");
            }
        }

        return documents;
    }
}
