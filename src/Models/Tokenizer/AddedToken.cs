namespace SaeCluster.Models;

/// <summary>
/// One entry of tokenizer.json's <c>added_tokens</c>, with the flags Hugging Face tokenizers gives it.
/// Value equality over all fields, as HF compares added tokens.
/// </summary>
/// <param name="Content">The literal text of the token.</param>
/// <param name="Special">Special tokens are dropped by <c>Decode(skipSpecialTokens: true)</c>.</param>
/// <param name="Normalized">Matched in the normalised text (true) or in the raw input (false).</param>
/// <param name="LStrip">A match also swallows the whitespace before it.</param>
/// <param name="RStrip">A match also swallows the whitespace after it.</param>
/// <param name="SingleWord">Only matches when not glued to a word character on either side.</param>
internal sealed record AddedToken(string Content, bool Special, bool Normalized, bool LStrip, bool RStrip, bool SingleWord);
