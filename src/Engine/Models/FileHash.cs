using System.Security.Cryptography;

namespace StreamBert.Engine.Models;

/// <summary>sha256 of files, as lowercase hex: the identity used by manifests and ModelPublished events.</summary>
public static class FileHash
{
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
